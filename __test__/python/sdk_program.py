"""Runs programs of ml-dash calls with the real Python SDK (local mode), and reads tracks back.

usage: sdk_program.py run <dash_root>    programs on stdin: [{"prefix": ..., "ops": [...]}, ...]
       sdk_program.py read <dash_root>   reads on stdin: [{"prefix": ..., "topics": [...]}, ...]

Input is JSON as Python's json module reads it (NaN, Infinity, -0.0 literals). An op is one of
{"op": "append", "topic", "data", "ts"}, {"op": "flush", "topic"}, {"op": "metric", "name", "data"},
{"op": "log", "level", "message", "metadata"?}, {"op": "params", "values"},
{"op": "file", "prefix", "to", "text" | "json"}. `read` prints, one line per experiment, the
entries each topic's `read()` gives, as Python's json.dumps writes them.
"""
import json
import sys

from ml_dash import Experiment


def run(root, program):
    with Experiment(prefix=program["prefix"], dash_root=root).run as exp:
        for op in program["ops"]:
            kind = op["op"]
            if kind == "append":
                exp.tracks(op["topic"]).append(**op["data"], _ts=op["ts"])
            elif kind == "flush":
                exp.tracks(op["topic"]).flush()
            elif kind == "metric":
                exp.metrics(op["name"]).log(**op["data"])
            elif kind == "log":
                exp.log(op["message"], level=op["level"], metadata=op.get("metadata"))
            elif kind == "params":
                exp.params.set(**op["values"])
            elif kind == "file":
                files = exp.files(op["prefix"]) if op["prefix"] else exp.files()
                content = op["text"].encode("utf-8") if "text" in op else op["json"]
                files.save(content, to=op["to"])
            else:
                raise ValueError(f"unknown op {kind}")


def read(root, request):
    with Experiment(prefix=request["prefix"], dash_root=root).run as exp:
        return {topic: exp.tracks(topic).read()["entries"] for topic in request["topics"]}


mode, root = sys.argv[1], sys.argv[2]
items = json.load(sys.stdin)
if mode == "run":
    for program in items:
        run(root, program)
else:
    for request in items:
        print(json.dumps(read(root, request)))
