"""Reads back through the server what the seed example recorded, with the SDK's own calls.

    python sdk_remote_read.py <dash_url> <prefix> <download_dir>

Prints one JSON line: the file count, the downloaded frame's path, the position track's entry
count and first entry, and the parameters.
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
print(json.dumps({
    "files": len(files),
    "frame": frame,
    "positions": len(positions["entries"]),
    "first": positions["entries"][0],
    "params": params,
}))
