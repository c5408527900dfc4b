"""A small program through the SDK's remote mode, for comparing its requests with ours.

    python sdk_contract.py <dash_url>

Remote only (no local copy): a prefix with folders, tags and a description, parameters, a log line
with metadata, three track entries, a metric point, a text file, then COMPLETED.
"""

import sys

from ml_dash import Experiment

dash_url = sys.argv[1]
with Experiment(
    prefix="alice/robotics/sims/run-7", dash_url=dash_url, dash_root=None, tags=["a", "b"], readme="about it"
).run as experiment:
    experiment.params.set(lr=0.1, opt={"name": "adam"})
    experiment.log("hello", level="info", k=1)
    for i in range(3):
        experiment.tracks("robot/position").append(x=float(i), y=2.5, _ts=float(i + 1))
    experiment.metrics("train").log(step=0, loss=0.5)
    experiment.files("robot/frames").save_text("hello", to="note.txt")
