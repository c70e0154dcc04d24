"""Peer of `caltech-anomaly bench prepare`: the report's TensorFlow loop.

Decodes every `101_ObjectCategories/*/*.jpg` with `tf.io.decode_jpeg`
(3 channels), resizes with `tf.image.resize` (bilinear, the report's call),
divides by 255 and stacks the list with `np.array`, as the coursework did.
Prints one JSON line: {"name", "images", "seconds", "peak_rss_bytes"}.
"""

import argparse
import os
import sys
import time

from measurement import print_measurement

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()

    try:
        import numpy as np
        import tensorflow as tf
    except ImportError as e:
        print(f"tensorflow peer unavailable ({e}); run `make bench-deps`", file=sys.stderr)
        return 2

    root = os.path.join(args.data_dir, "101_ObjectCategories")
    paths = sorted(
        os.path.join(root, c, f)
        for c in os.listdir(root)
        for f in os.listdir(os.path.join(root, c))
        if f.endswith(".jpg")
    )
    start = time.perf_counter()
    images = []
    for path in paths:
        image = tf.io.decode_jpeg(tf.io.read_file(path), channels=3)
        image = tf.image.resize(image, [args.size, args.size]) / 255.0
        images.append(image)
    array = np.array(images)
    seconds = time.perf_counter() - start
    assert array.shape == (len(paths), args.size, args.size, 3)
    print_measurement(f"TensorFlow {tf.__version__} loop", len(paths), seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
