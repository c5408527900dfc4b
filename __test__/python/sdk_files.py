"""Saves two files with the real Python ml-dash SDK: files("docs").save_text / save_blob.

usage: sdk_files.py <dash_root> <prefix>
"""
import sys

from ml_dash import Experiment

root, prefix = sys.argv[1], sys.argv[2]
with Experiment(prefix=prefix, dash_root=root).run as exp:
    exp.files("docs").save_text("hello", to="notes.txt")
    exp.files("docs").save_blob(b"\x89PNG\r\n\x1a\n", to="frame.png")
