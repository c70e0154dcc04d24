"""Pooled and patch features of an EfficientNet-Lite network on fixed inputs,
from the PyTorch reference (bench/efficientnet_lite.py), as JSON on stdout:
what tests/pretrained.rs compares the burn implementation against.

Input n, c, y, x holds ((i * 7919) % 1000) / 1000 * 4 - 2 for its flat
index i, computed in float64 and stored as float32, as the test does.
"""
import argparse
import json
import pathlib
import sys

import numpy as np
import torch

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from efficientnet_lite import EfficientNetLite  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--weights", required=True)
parser.add_argument("--backbone", choices=["lite0", "lite1", "lite2"], default="lite0")
parser.add_argument("--batch", type=int, default=2)
parser.add_argument("--size", type=int, default=96)
args = parser.parse_args()

torch.set_num_threads(2)
model = EfficientNetLite(args.backbone).eval()
model.load_state_dict(torch.load(args.weights, map_location="cpu"), strict=True)
shape = (args.batch, 3, args.size, args.size)
i = np.arange(np.prod(shape), dtype=np.int64)
x = (((i * 7919) % 1000) / 1000.0 * 4.0 - 2.0).astype(np.float32).reshape(shape)
with torch.no_grad():
    features = model.features(torch.from_numpy(x))
    patches = model.patch_features(torch.from_numpy(x))
json.dump({
    "shape": list(features.shape),
    "features": features.flatten().tolist(),
    "patch_shape": list(patches.shape),
    "patches": patches.flatten().tolist(),
}, sys.stdout)
