"""Peer of `caltech-anomaly bench train`: the baseline autoencoder in PyTorch
eager mode, trained with Adam and MSE on one fixed random batch, exactly as
the Rust side measures it (forward, backward, optimizer step; the loss read
back once at the end). Channels-last on the CPU (oneDNN's layout, as ours).
`--precision bf16` runs the forward under `torch.autocast(dtype=bfloat16)`,
PyTorch's mixed precision: convolutions and dense layers in bf16, weights,
Adam and the loss in fp32. Prints one JSON line:
{"name", "images", "seconds", "peak_rss_bytes"}.
"""

import argparse
import sys
import time

from measurement import print_measurement

import torch
from torch import nn


class Baseline(nn.Module):
    """The report's design; see src/model.rs."""

    def __init__(self, size: int, encoding_dim: int = 256):
        super().__init__()
        side = size // 8
        self.side = side
        self.encoder = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(128 * side * side, encoding_dim), nn.ReLU(),
        )
        self.from_code = nn.Sequential(nn.Linear(encoding_dim, 128 * side * side), nn.ReLU())
        up = lambda i, o: nn.ConvTranspose2d(i, o, 3, stride=2, padding=1, output_padding=1)
        self.decoder = nn.Sequential(
            up(128, 128), nn.ReLU(), up(128, 64), nn.ReLU(), up(64, 32), nn.ReLU(),
            nn.Conv2d(32, 3, 3, padding=1), nn.Sigmoid(),
        )

    def forward(self, x):
        code = self.encoder(x)
        x = self.from_code(code).view(-1, 128, self.side, self.side)
        return self.decoder(x)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    args = parser.parse_args()

    torch.manual_seed(0)
    device = torch.device(args.device)
    layout = torch.channels_last if device.type == "cpu" else torch.contiguous_format
    model = Baseline(args.size).to(device, memory_format=layout)
    params = sum(p.numel() for p in model.parameters())
    optim = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
    x = torch.rand(args.batch, 3, args.size, args.size, device=device)
    x = x.contiguous(memory_format=layout)
    bf16 = args.precision == "bf16"

    def step():
        optim.zero_grad(set_to_none=True)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            reconstruction = model(x)
        loss = torch.mean((reconstruction.float() - x) ** 2)
        loss.backward()
        optim.step()
        return loss.detach()

    for _ in range(args.warmup):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    total = torch.zeros((), device=device)
    for _ in range(args.steps):
        total += step()
    total.item()
    seconds = time.perf_counter() - start
    name = (f"PyTorch {torch.__version__} eager {args.precision} ({params} params, "
            f"{torch.get_num_threads()} threads)")
    print_measurement(name, args.steps * args.batch, seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
