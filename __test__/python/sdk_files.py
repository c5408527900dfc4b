"""Saves files with the real Python ml-dash SDK: files("docs").save_text / save_blob, and the
JSON value given (Python's json.loads of it, NaN included) with save_json as config.json.

usage: sdk_files.py <dash_root> <prefix> <json>
"""
import json
import sys

from ml_dash import Experiment

root, prefix = sys.argv[1], sys.argv[2]
with Experiment(prefix=prefix, dash_root=root).run as exp:
    exp.files("docs").save_text("hello", to="notes.txt")
    exp.files("docs").save_blob(b"\x89PNG\r\n\x1a\n", to="frame.png")
    exp.files("docs").save_json(json.loads(sys.argv[3]), to="config.json")
