"""Records through the SDK's local mode, for comparing its files with ours byte for byte.

    python sdk_format.py <dash_root> <prefix>
"""

import sys

from ml_dash import Experiment

root, prefix = sys.argv[1], sys.argv[2]
with Experiment(prefix=prefix, dash_root=root).run as experiment:
    experiment.log("h\u00e9llo", level="info", z=1, a={"\u00e9": [1.5, None], "q": 'say "hi"\n'}, small=1e-07)
    experiment.log("plain")
    experiment.metrics("train").log(step=0, loss=0.5)
    experiment.params.set(lr=0.1, model={"name": "\u00fcnet", "layers": [64, 128]})
    experiment.params.set(lr=0.2, batch=32)
    experiment.files("docs").save_text("hi", to="n.txt")
