"""Saves float images as PNG with the SDK's save_image, for comparing its pixels with ours.

    python sdk_images.py <dash_root> <prefix> <json: [[name, width, height, channels, dtype, values], …]>
"""

import json
import sys

import numpy as np
from ml_dash import Experiment

root, prefix, images = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
with Experiment(prefix=prefix, dash_root=root).run as experiment:
    for name, width, height, channels, dtype, values in images:
        array = np.array(values, dtype=dtype).reshape((height, width, channels))
        experiment.files("frames").save_image(array, to=name)
