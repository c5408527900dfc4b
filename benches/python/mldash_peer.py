"""The benchmark scenarios through the real Python ml-dash SDK (local mode), for comparison.

usage: mldash_peer.py <scenario> <steps> <dash_root>
Prints one JSON line: {"entries", "seconds", "bytes"} (first append to the end of the run block,
which flushes everything to disk).
"""
import json
import math
import os
import sys
import time

from ml_dash import Experiment


def basic(i, tracks):
    tracks("robot/position").append(step=i, x=math.sin(i * 1e-3), y=math.cos(i * 1e-3), z=0.3 + i * 1e-7)


def four_tracks(i, tracks):
    a = i * 1e-3
    tracks("robot/position").append(step=i, x=math.sin(a), y=math.cos(a), z=0.3)
    tracks("robot/joints").append(step=i, joint1=a, joint2=-a, joint3=0.5 * a)
    tracks("robot/control").append(step=i, motor1=math.sin(a * 3), motor2=math.cos(a * 5))
    tracks("robot/sensors").append(step=i, imu_x=0.01 * a, imu_y=9.81, imu_z=-0.02, force=a * 2)


def shared_timestamps(i, tracks):
    ts = 1_700_000_000 + i * 1e-3
    tracks("multi-sensor").append(temperature=20 + math.sin(i * 1e-3), _ts=ts)
    tracks("multi-sensor").append(pressure=1013 + math.cos(i * 1e-3), _ts=ts)


def rl_trajectory(i, tracks):
    state = [math.sin(i * 1e-3 + k) for k in range(64)]
    tracks("agent/trajectory").append(episode=i // 1000, step=i % 1000, state=state, action=i % 4, reward=1.0)


def irregular(i, tracks):
    data = {
        "step": i,
        "label": f"frame_{i:05d}.jpg",
        "meta": {"source": "imu" if i % 2 else "camera", "ok": i % 7 != 0, "tags": ["sim", f"ep{i % 10}"]},
    }
    if i % 5 == 0:
        data["note"] = f"checkpoint {i}"
    tracks("robot/events").append(**data)


SCENARIOS = {
    "basic": (basic, 1),
    "four-tracks": (four_tracks, 4),
    "shared-timestamps": (shared_timestamps, 2),
    "rl-trajectory": (rl_trajectory, 1),
    "irregular": (irregular, 1),
}


def du(path):
    total = 0
    for directory, _, files in os.walk(path):
        total += sum(os.path.getsize(os.path.join(directory, f)) for f in files)
    return total


def main():
    name, steps, root = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    step, per_step = SCENARIOS[name]
    start = time.perf_counter()
    with Experiment(prefix="bench/python/run", dash_root=root).run as exp:
        for i in range(steps):
            step(i, exp.tracks)
    seconds = time.perf_counter() - start
    tracks_dir = os.path.join(root, "bench/python/run/tracks")
    rows = 0
    for topic_dir in os.listdir(tracks_dir):
        with open(os.path.join(tracks_dir, topic_dir, "data.jsonl")) as f:
            rows += sum(1 for line in f if line.strip())
    print(json.dumps({"entries": steps * per_step, "rows": rows, "seconds": seconds, "bytes": du(tracks_dir)}))


main()
