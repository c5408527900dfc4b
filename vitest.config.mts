import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["__test__/**/*.test.ts"],
    // Native addons and child processes: one forked process per file, generous time on 2 cores.
    pool: "forks",
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});
