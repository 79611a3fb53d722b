"""ArcFace identity loss: keeps an edited face recognisable as the same person.

The network is IR-SE50 (the InsightFace ``Backbone(112, 50, 'ir_se')`` that the paper's face edits
use). Module names follow that layout exactly, so the public ``model_ir_se50.pth`` (a bare state dict
of 397 entries) loads with strict=True and nothing else does. The loss reproduces the original
``IDLoss``, including its crop of a 256x256 aligned face and its height-only size check.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from sgim_desktop.checkpoints.safe_load import layout_problem, load_checkpoint, state_dict_of
from sgim_desktop.errors import CheckpointError

EMBED_DIM = 512
INPUT_SIZE = 112
# (output depth, number of units) of the four stages of IR-SE50; each stage starts with stride 2.
_STAGES: tuple[tuple[int, int], ...] = ((64, 3), (128, 4), (256, 14), (512, 3))
_SE_REDUCTION = 16
_DROP_RATIO = 0.6

# The original IDLoss works on 256x256 aligned faces and keeps this window before resizing to 112.
_ALIGNED_SIZE = 256
_CROP_ROWS = slice(35, 223)
_CROP_COLS = slice(32, 220)


class SEModule(nn.Module):
    """Squeeze-and-excitation: rescales channels by a gate computed from their global means."""

    def __init__(self, channels: int, reduction: int = _SE_REDUCTION) -> None:
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, channels // reduction, kernel_size=1, bias=False)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(channels // reduction, channels, kernel_size=1, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = self.sigmoid(self.fc2(self.relu(self.fc1(self.avg_pool(x)))))
        return x * gate


class BottleneckIRSE(nn.Module):
    """One improved-residual unit with SE; the shortcut subsamples (or projects when depth changes)."""

    def __init__(self, in_channels: int, depth: int, stride: int) -> None:
        super().__init__()
        # Attribute order matters: it is the order of the public checkpoint's keys.
        if in_channels == depth:
            self.shortcut_layer: nn.Module = nn.MaxPool2d(kernel_size=1, stride=stride)
        else:
            self.shortcut_layer = nn.Sequential(
                nn.Conv2d(in_channels, depth, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(depth),
            )
        self.res_layer = nn.Sequential(
            nn.BatchNorm2d(in_channels),
            nn.Conv2d(in_channels, depth, kernel_size=3, stride=1, padding=1, bias=False),
            nn.PReLU(depth),
            nn.Conv2d(depth, depth, kernel_size=3, stride=stride, padding=1, bias=False),
            nn.BatchNorm2d(depth),
            SEModule(depth),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.res_layer(x) + self.shortcut_layer(x)


def ir_se50_input_layer() -> nn.Sequential:
    """The stem (conv 3x3 to 64 channels, BatchNorm, PReLU); the e4e encoder starts with it too."""
    return nn.Sequential(
        nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False),
        nn.BatchNorm2d(64),
        nn.PReLU(64),
    )


def ir_se50_body() -> nn.Sequential:
    """The 24 IR-SE units (``body.0`` .. ``body.23``), shared with the e4e encoder's backbone."""
    units: list[BottleneckIRSE] = []
    in_channels = 64
    for depth, count in _STAGES:
        units.append(BottleneckIRSE(in_channels, depth, stride=2))
        units.extend(BottleneckIRSE(depth, depth, stride=1) for _ in range(count - 1))
        in_channels = depth
    return nn.Sequential(*units)


class IRSE50(nn.Module):
    """ArcFace IR-SE50: a (B,3,112,112) face in [-1,1] -> a (B,512) unit-length identity embedding."""

    def __init__(self) -> None:
        super().__init__()
        self.input_layer = ir_se50_input_layer()
        final_side = INPUT_SIZE // 2 ** len(_STAGES)
        self.output_layer = nn.Sequential(
            nn.BatchNorm2d(512),
            nn.Dropout(_DROP_RATIO),
            nn.Flatten(),
            nn.Linear(512 * final_side * final_side, EMBED_DIM),
            nn.BatchNorm1d(EMBED_DIM),
        )
        self.body = ir_se50_body()
        self.eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        emb = self.output_layer(self.body(self.input_layer(x)))
        # No epsilon, as in the original: a zero embedding cannot come out of a trained net.
        return emb / emb.norm(p=2, dim=1, keepdim=True)


def load_arcface(path_or_state: str | Path | Mapping[str, torch.Tensor], device: str | torch.device = "cpu") -> IRSE50:
    """Build IR-SE50 from ``model_ir_se50.pth`` (or its state dict), strictly, in eval mode on ``device``."""
    if isinstance(path_or_state, (str, Path)):
        source = str(path_or_state)
        state = state_dict_of(load_checkpoint(path_or_state))
    else:
        source = "the given state dict"
        state = state_dict_of(dict(path_or_state))
    model = IRSE50()
    problem = layout_problem(state, model.state_dict())
    if problem is not None:
        raise CheckpointError(f"{source} is not an ArcFace IR-SE50 checkpoint (model_ir_se50.pth): {problem}")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise CheckpointError(f"{source} does not fit ArcFace IR-SE50 ({first[:160]})") from exc
    return model.to(device).eval()


def rule_weighted_arcface() -> IRSE50:
    """IR-SE50 filled with the fixtures' generic weight rule: the stand-in when no checkpoint is at hand."""
    from sgim_desktop.synthetic_weights import fill_

    model = IRSE50()
    fill_(model, "generic")
    return model.eval()


class IdentityLoss(nn.Module):
    """1 - cosine between ArcFace embeddings of the edited and the source face, averaged over the batch.

    The network is frozen and always in eval mode; gradients flow to the edited image only, since the
    source's features are constants (the original detaches them too).
    """

    def __init__(self, net: IRSE50) -> None:
        super().__init__()
        self.net = net.eval()
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.pool_aligned = nn.AdaptiveAvgPool2d((_ALIGNED_SIZE, _ALIGNED_SIZE))
        self.pool_input = nn.AdaptiveAvgPool2d((INPUT_SIZE, INPUT_SIZE))

    def train(self, mode: bool = True) -> IdentityLoss:
        """Keep the frozen network in eval mode whatever the caller asks: its BatchNorm stats are fixed."""
        super().train(mode)
        self.net.eval()
        return self

    def face_crop(self, x: torch.Tensor) -> torch.Tensor:
        """The (B,3,112,112) face window the network sees, as the original computes it.

        Only the height is compared with 256, so an image 256 high but of another width is cropped
        without resizing (a quirk kept for parity).
        """
        if x.shape[2] != _ALIGNED_SIZE:
            x = self.pool_aligned(x)
        return self.pool_input(x[:, :, _CROP_ROWS, _CROP_COLS])

    def extract_feats(self, x: torch.Tensor) -> torch.Tensor:
        """(B,3,H,W) images in [-1,1] -> (B,512) unit identity embeddings."""
        return self.net(self.face_crop(x))

    @torch.no_grad()
    def source_features(self, y: torch.Tensor) -> torch.Tensor:
        """The source's embeddings, computed once: they do not change while an edit runs."""
        return self.extract_feats(y).detach()

    def forward_cached(self, y_hat: torch.Tensor, y_feats: torch.Tensor) -> torch.Tensor:
        """The loss against embeddings from ``source_features``: a scalar, differentiable in ``y_hat``."""
        y_hat_feats = self.extract_feats(y_hat)
        return (1.0 - (y_hat_feats * y_feats).sum(dim=1)).mean()

    def forward(self, y_hat: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The scalar loss of the edited faces ``y_hat`` against the sources ``y`` (same batch size)."""
        return self.forward_cached(y_hat, self.source_features(y))
