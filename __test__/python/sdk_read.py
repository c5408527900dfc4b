"""Reads a track with the real Python ml-dash SDK and prints what it sees as strict JSON.

usage: sdk_read.py <dash_root> <prefix> <topic> <findByTime query as JSON>
Prints {"entries": [...], "count": n, "found": [...], "length": n}; non-finite floats are
written as {"$float": "NaN" | "Infinity" | "-Infinity"} so the output is strict JSON.
"""
import json
import math
import sys

from ml_dash import Experiment


def strict(value):
    if isinstance(value, float) and not math.isfinite(value):
        return {"$float": "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")}
    if isinstance(value, dict):
        return {k: strict(v) for k, v in value.items()}
    if isinstance(value, list):
        return [strict(v) for v in value]
    return value


root, prefix, topic, query = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
with Experiment(prefix=prefix, dash_root=root).run as exp:
    track = exp.tracks(topic)
    data = track.read()
    track_slice = track.slice()
    found = track_slice.findByTime(query)
    print(json.dumps(strict({"entries": data["entries"], "count": data["count"], "found": found, "length": len(track_slice)})))
