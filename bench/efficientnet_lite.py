"""EfficientNet-Lite0, Lite1 and Lite2 in PyTorch (no torchvision needed), in the
`efficientnet-lite-pytorch` layout
(`_conv_stem`, `_bn0`, `_blocks.N.{_expand_conv,_bn0,_depthwise_conv,_bn1,
_project_conv,_bn2}`, `_conv_head`, `_bn1`, `_fc`): the reference the Rust
implementation is tested against.

MBConv blocks without squeeze-excitation, ReLU6, batch norm (eps 1e-3),
symmetric padding (k - 1) / 2, a residual where stride is 1 and the widths
match. Lite1 and Lite2 scale Lite0's depth and (Lite2) widths; the stem
and the head stay fixed in the lite family.

`patch_features` is PatchCore's locally aware patch feature as
src/features/efficientnet.rs computes it: the outputs of stages 5 and 7,
each averaged over its 3 x 3 neighbourhood, the deeper one upsampled
(bilinear) to the finer grid, concatenated.
"""
import torch
from torch import nn

KERNELS = [3, 3, 5, 3, 5, 5, 3]
STRIDES = [1, 2, 2, 2, 1, 2, 1]
REPEATS = {
    "lite0": [1, 2, 2, 3, 3, 4, 1],
    "lite1": [1, 3, 3, 4, 4, 5, 1],
    "lite2": [1, 3, 3, 4, 4, 5, 1],
}
WIDTHS = {
    "lite0": [16, 24, 40, 80, 112, 192, 320],
    "lite1": [16, 24, 40, 80, 112, 192, 320],
    "lite2": [16, 24, 48, 88, 120, 208, 352],
}
STEM = 32
PATCH_STAGES = [4, 6]
BN_EPS = 1e-3


def stages(variant):
    """(kernel, stride, expansion, in, out, repeats) per stage."""
    widths = WIDTHS[variant]
    return [
        (KERNELS[s], STRIDES[s], 1 if s == 0 else 6, STEM if s == 0 else widths[s - 1],
         widths[s], REPEATS[variant][s])
        for s in range(7)
    ]


class MBConv(nn.Module):
    def __init__(self, k, stride, expand, cin, cout):
        super().__init__()
        mid = cin * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = nn.Conv2d(cin, mid, 1, bias=False)
            self._bn0 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._depthwise_conv = nn.Conv2d(mid, mid, k, stride, (k - 1) // 2, groups=mid, bias=False)
        self._bn1 = nn.BatchNorm2d(mid, eps=BN_EPS)
        self._project_conv = nn.Conv2d(mid, cout, 1, bias=False)
        self._bn2 = nn.BatchNorm2d(cout, eps=BN_EPS)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = x
        if self.expand:
            y = nn.functional.relu6(self._bn0(self._expand_conv(y)))
        y = nn.functional.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.residual else y


class EfficientNetLite(nn.Module):
    def __init__(self, variant="lite0"):
        super().__init__()
        self._conv_stem = nn.Conv2d(3, STEM, 3, 2, 1, bias=False)
        self._bn0 = nn.BatchNorm2d(STEM, eps=BN_EPS)
        blocks, self.stage = [], []
        for stage, (k, s, e, cin, cout, n) in enumerate(stages(variant)):
            for i in range(n):
                blocks.append(MBConv(k, s if i == 0 else 1, e, cin if i == 0 else cout, cout))
                self.stage.append(stage)
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = nn.Conv2d(WIDTHS[variant][-1], 1280, 1, bias=False)
        self._bn1 = nn.BatchNorm2d(1280, eps=BN_EPS)
        self._fc = nn.Linear(1280, 1000)

    def features(self, x):
        x = nn.functional.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            x = block(x)
        x = nn.functional.relu6(self._bn1(self._conv_head(x)))
        return x.mean(dim=(2, 3))

    def patch_features(self, x):
        x = nn.functional.relu6(self._bn0(self._conv_stem(x)))
        kept = []
        for i, block in enumerate(self._blocks):
            x = block(x)
            last = i + 1 == len(self._blocks) or self.stage[i + 1] != self.stage[i]
            if last and self.stage[i] in PATCH_STAGES:
                kept.append(nn.functional.avg_pool2d(x, 3, 1, 1, count_include_pad=False))
        fine, deep = kept
        deep = nn.functional.interpolate(deep, size=fine.shape[2:], mode="bilinear",
                                         align_corners=False)
        return torch.cat([fine, deep], dim=1)

    def forward(self, x):
        return self._fc(self.features(x))
