"""Writes a known experiment with the real Python ml-dash SDK (local mode).

usage: sdk_write.py <dash_root> <prefix>
"""
import sys

from ml_dash import Experiment

root, prefix = sys.argv[1], sys.argv[2]

with Experiment(prefix=prefix, dash_root=root, tags=["sdk"], description="written by ml-dash").run as exp:
    exp.log("starting", level="info")
    exp.params.set(lr=0.001, model={"layers": 3, "act": "relu"})
    for i in range(50):
        exp.tracks("robot/position").append(
            step=i,
            x=i * 0.25,
            y=float("nan") if i == 7 else -1.5 * i,
            label=f"pos-{i}-é",
            q=[0.1 * i, 0.2, 0.3],
            camera={"fov": 60 + i, "pos": [1, 2, 3]},
            _ts=1000.0 + i * 0.5,
        )
        if i % 10 == 0:
            exp.tracks("robot/events").append(kind="checkpoint", ok=True, note=None, _ts=1000.0 + i * 0.5)
    exp.metrics("train").log(loss=0.5, step=1)
    exp.log("done", level="warn")
