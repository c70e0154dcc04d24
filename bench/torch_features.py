"""Peer of `caltech-anomaly bench features`: the pooled features of an
EfficientNet-Lite network (bench/efficientnet_lite.py, the PyTorch reference
the Rust network is tested against) in PyTorch eager mode, inference only,
on one fixed random batch, exactly as the Rust side measures it (the batch
through the network `--batches` times after `--warmup`, the features read
back each time). Channels-last on the CPU (oneDNN's layout, as ours); batch
norms as the module has them (eval mode). Prints one JSON line:
{"name", "images", "seconds", "peak_rss_bytes"}.
"""

import argparse
import pathlib
import sys
import time

import torch

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from efficientnet_lite import EfficientNetLite  # noqa: E402
from measurement import print_measurement  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backbone", choices=["lite0", "lite1", "lite2"], default="lite0")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=2)
    args = parser.parse_args()

    torch.manual_seed(0)
    model = EfficientNetLite(args.backbone).eval().to(memory_format=torch.channels_last)
    x = torch.randn(args.batch, 3, args.size, args.size).to(memory_format=torch.channels_last)
    with torch.no_grad():
        for _ in range(args.warmup):
            model.features(x).sum().item()
        start = time.perf_counter()
        for _ in range(args.batches):
            model.features(x).sum().item()
        seconds = time.perf_counter() - start
    name = (f"PyTorch {torch.__version__.split('+')[0]} eager ({args.backbone}, batch norms "
            f"unfolded, {torch.get_num_threads()} threads)")
    print_measurement(name, args.batches * args.batch, seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
