"""Reads back through the server what the seed example recorded, with the SDK's own calls.

    python sdk_remote_read.py <dash_url> <prefix> <download_dir>

Prints one JSON line: the file count, the downloaded frame's path, the position track's entry
count and first entry, the parameters, and the "train" metric's steps and columns (read as row
pages, following cursors).
"""

import json
import sys

from ml_dash import Experiment

dash_url, prefix, download_dir = sys.argv[1], sys.argv[2], sys.argv[3]

with Experiment(prefix=prefix, dash_url=dash_url, dash_root=None).run as experiment:
    files = experiment.files().list()
    frame = experiment.files("robot/frames/frame_00004.jpg").download(to=f"{download_dir}/frame.jpg")
    positions = experiment.tracks("robot/position").read()
    params = experiment.params.get()
    train = [row for block in experiment.metrics("train").iter_row_blocks(limit=100) for row in block.rows]
    train_columns = [c.name for c in next(experiment.metrics("train").iter_row_blocks(limit=1)).columns]
print(json.dumps({
    "train": [row[train_columns.index("step")] for row in train],
    "trainColumns": sorted(train_columns),
    "files": len(files),
    "frame": frame,
    "positions": len(positions["entries"]),
    "first": positions["entries"][0],
    "params": params,
}))
