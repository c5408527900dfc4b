"""The same record calls through the SDK's local mode, for comparing its files with ours.

    python sdk_records.py <dash_root> <prefix> <phase>

Phase "write": a log line in upper case, one with no metadata, parameters that flatten to
nothing, then one parameter. Phase "continue": one more log line (to see where the SDK's numbering
goes on from).
"""

import sys

from ml_dash import Experiment

root, prefix, phase = sys.argv[1], sys.argv[2], sys.argv[3]
with Experiment(prefix=prefix, dash_root=root).run as experiment:
    if phase == "write":
        experiment.log("first", level="WARN")
        experiment.log("second")
        experiment.params.set()
        experiment.params.set(model={})
    else:
        experiment.log("continued")
