"""The seed's "Complete Robot Tracking" example, unmodified in what it sends, against a server.

    python sdk_remote_seed.py <dash_url> <prefix> <steps>

A numpy render of a two-link arm stands in for MuJoCo: every 4th step a 480x640 RGB frame is
saved as JPEG (quality 85) under files/robot/frames, and the end-effector position (with the
frame's name) and the controls are tracked, aligned by step; progress goes to the logs; metrics and
parameters as the SDK's other examples use them. Prints one JSON line: what was sent.
"""

import json
import math
import sys

import numpy as np
from ml_dash import Experiment

dash_url, prefix, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])


def render(step):
    frame = np.zeros((480, 640, 3), dtype=np.uint8)
    frame[:, :, 0] = np.linspace(0, 255, 640, dtype=np.uint8)[None, :]
    frame[:, :, 1] = np.linspace(0, 255, 480, dtype=np.uint8)[:, None]
    x = int(320 + 200 * math.cos(step * 0.01))
    y = int(240 + 150 * math.sin(step * 0.01))
    frame[max(0, y - 20) : y + 20, max(0, x - 20) : x + 20] = (255, 255, 255)
    return frame


sent = {"position": 0, "control": 0, "frames": 0, "logs": 0, "train": 0}
with Experiment(prefix=prefix, dash_url=dash_url, tags=["seed", "remote"]).run as experiment:
    experiment.params.set(sim={"dt": 0.002, "steps": steps}, record_interval=4, robot="two-link")
    experiment.log("Starting robot tracking experiment")
    sent["logs"] += 1
    for step in range(steps):
        q = (math.sin(step * 0.01), math.cos(step * 0.013))
        control = {"ctrl_0": 0.1 * q[0], "ctrl_1": -0.2 * q[1]}
        if step % 4 == 0:
            name = f"frame_{step:05d}.jpg"
            experiment.files("robot/frames").save_image(render(step), to=name, quality=85)
            sent["frames"] += 1
            pos = [math.cos(q[0]) + math.cos(q[0] + q[1]), math.sin(q[0]) + math.sin(q[0] + q[1]), 0.0]
            experiment.tracks("robot/position").append(step=step, pos=pos, frame=name, _ts=float(step))
            experiment.tracks("robot/control").append(step=step, **control, _ts=float(step))
            experiment.metrics("train").log(step=step, ctrl_norm=math.hypot(*control.values()))
            sent["position"] += 1
            sent["control"] += 1
            sent["train"] += 1
        if step % 100 == 0:
            experiment.log(f"step {step}", level="info", step=step)
            sent["logs"] += 1
    experiment.flush()
print(json.dumps(sent))
