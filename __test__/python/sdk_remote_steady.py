"""A steady writer in remote mode: entries with explicit timestamps, a flush every few.

    python sdk_remote_steady.py <dash_url> <prefix> <entries> <flush_every>

Appends `{step, x}` at `_ts = step` to track "robot/state", and a metric point and a log line
beside every flush; prints "flushed <step>" after each flush (so a test can act between them) and
finally one JSON line of what was sent.
"""

import json
import sys
import time

from ml_dash import Experiment
from ml_dash.exceptions import NetworkError

dash_url, prefix, entries, flush_every = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])


def flush(experiment):
    """Flushes until everything is sent. A request on a keep-alive connection whose server died
    fails with RemoteProtocolError, which the SDK (0.11) does not retry within the call: flush()
    raises and keeps the data in memory, so a caller that keeps going flushes again."""
    for _ in range(50):
        try:
            experiment.flush()
            return
        except NetworkError:
            time.sleep(0.2)
    experiment.flush()


with Experiment(prefix=prefix, dash_url=dash_url, dash_root=None).run as experiment:
    for step in range(entries):
        experiment.tracks("robot/state").append(step=step, x=step * 0.5, _ts=float(step))
        if (step + 1) % flush_every == 0:
            experiment.metrics("progress").log(step=step)
            experiment.log(f"reached step {step}")
            flush(experiment)
            print(f"flushed {step}", flush=True)
print(json.dumps({"entries": entries, "flushes": entries // flush_every}))
