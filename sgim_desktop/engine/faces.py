"""Finding faces and their five landmarks (eyes, nose, mouth corners) offline.

The detector is MTCNN (Zhang et al., 2016): a cascade of three small networks. P-Net scans an image
pyramid for face-like 12 x 12 windows, R-Net rejects most of them at 24 x 24, and O-Net scores the
rest at 48 x 48 and places the landmarks. Its trained weights (2 MB) ship inside the
``facenet-pytorch`` wheel (MIT licence); this module reads those three files with
``weights_only`` loading and runs its own implementation, so none of that package's code is imported
(its later releases pin old torch and numpy versions; the weights are the same).
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from sgim_desktop.errors import BadInputError, CheckpointError

WEIGHTS_PACKAGE = "facenet_pytorch"
WEIGHT_FILES = ("pnet.pt", "rnet.pt", "onet.pt")
DETECT_MAX_SIDE = 1024
"""Photos are searched at most this large (faces small enough to vanish there are too small to edit)."""

LANDMARK_NAMES = ("left eye", "right eye", "nose", "mouth left", "mouth right")


@dataclass(frozen=True)
class Face:
    """One face: its box (x0, y0, x1, y1), the detector's confidence, and five landmarks (5 x 2, pixel indices).

    Landmarks are in MTCNN's order: for an upright face, the eye on the image's left first, then the
    other eye, the nose tip, the mouth corner on the image's left, the other mouth corner.
    """

    box: tuple[float, float, float, float]
    score: float
    landmarks: np.ndarray

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def centre(self) -> tuple[float, float]:
        return ((self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2)

    def describe(self) -> str:
        cx, cy = self.centre
        return f"{self.width:.0f} px wide at ({cx:.0f}, {cy:.0f}), confidence {self.score:.2f}"


def _normalise(x: torch.Tensor) -> torch.Tensor:
    """MTCNN's input scaling: pixel values 0..255 -> about -1..1."""
    return (x - 127.5) * 0.0078125


class _PNet(nn.Module):
    """Proposal network: fully convolutional, one face score and box offset per 12 x 12 window (stride 2)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 10, 3), nn.PReLU(10)
        self.conv2, self.prelu2 = nn.Conv2d(10, 16, 3), nn.PReLU(16)
        self.conv3, self.prelu3 = nn.Conv2d(16, 32, 3), nn.PReLU(32)
        self.conv4_1 = nn.Conv2d(32, 2, 1)
        self.conv4_2 = nn.Conv2d(32, 4, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.max_pool2d(self.prelu1(self.conv1(x)), 2, 2, ceil_mode=True)
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        return self.conv4_2(x), F.softmax(self.conv4_1(x), dim=1)[:, 1]


class _RNet(nn.Module):
    """Refinement network on 24 x 24 windows: face score and box offsets."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 28, 3), nn.PReLU(28)
        self.conv2, self.prelu2 = nn.Conv2d(28, 48, 3), nn.PReLU(48)
        self.conv3, self.prelu3 = nn.Conv2d(48, 64, 2), nn.PReLU(64)
        self.dense4, self.prelu4 = nn.Linear(576, 128), nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = F.max_pool2d(self.prelu1(self.conv1(x)), 3, 2, ceil_mode=True)
        x = F.max_pool2d(self.prelu2(self.conv2(x)), 3, 2, ceil_mode=True)
        x = self.prelu3(self.conv3(x))
        x = self.prelu4(self.dense4(_flatten_caffe(x)))
        return self.dense5_2(x), F.softmax(self.dense5_1(x), dim=1)[:, 1]


class _ONet(nn.Module):
    """Output network on 48 x 48 windows: face score, box offsets and the five landmarks."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = nn.Conv2d(3, 32, 3), nn.PReLU(32)
        self.conv2, self.prelu2 = nn.Conv2d(32, 64, 3), nn.PReLU(64)
        self.conv3, self.prelu3 = nn.Conv2d(64, 64, 3), nn.PReLU(64)
        self.conv4, self.prelu4 = nn.Conv2d(64, 128, 2), nn.PReLU(128)
        self.dense5, self.prelu5 = nn.Linear(1152, 256), nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = F.max_pool2d(self.prelu1(self.conv1(x)), 3, 2, ceil_mode=True)
        x = F.max_pool2d(self.prelu2(self.conv2(x)), 3, 2, ceil_mode=True)
        x = F.max_pool2d(self.prelu3(self.conv3(x)), 2, 2, ceil_mode=True)
        x = self.prelu5(self.dense5(_flatten_caffe(self.prelu4(self.conv4(x)))))
        return self.dense6_2(x), self.dense6_3(x), F.softmax(self.dense6_1(x), dim=1)[:, 1]


def _flatten_caffe(x: torch.Tensor) -> torch.Tensor:
    """Flatten as the Caffe original did (it stored images transposed): (N, C, H, W) read in W, H, C order."""
    return x.permute(0, 3, 2, 1).reshape(x.shape[0], -1)


BUNDLED_DIR = "mtcnn"  # where the packaged app keeps the three files (the package itself is left out)


def weights_dir() -> Path | None:
    """The folder holding the MTCNN weights: the packaged app's copy, else the installed
    ``facenet-pytorch`` wheel's, found without importing it."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle is not None:
        folder = Path(bundle) / BUNDLED_DIR
        if all((folder / f).is_file() for f in WEIGHT_FILES):
            return folder
    try:
        spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        folder = Path(location) / "data"
        if all((folder / f).is_file() for f in WEIGHT_FILES):
            return folder
    return None


class FaceDetector:
    """MTCNN with its published settings (minimum face 20 px, thresholds 0.6 / 0.7 / 0.7, pyramid step 0.709)."""

    def __init__(self, folder: str | Path | None = None, device: str | torch.device = "cpu",
                 min_face: int = 20, thresholds: tuple[float, float, float] = (0.6, 0.7, 0.7), factor: float = 0.709):
        from sgim_desktop.checkpoints.safe_load import load_checkpoint

        folder = Path(folder) if folder is not None else weights_dir()
        if folder is None:
            raise CheckpointError(
                "face detection needs the MTCNN weights of the facenet-pytorch package: "
                "pip install 'facenet-pytorch==2.5.3', or use --whole-image to skip face alignment"
            )
        self.device = torch.device(device)
        self.pnet, self.rnet, self.onet = _PNet(), _RNet(), _ONet()
        for net, name in zip((self.pnet, self.rnet, self.onet), WEIGHT_FILES):
            state = load_checkpoint(folder / name)
            try:
                net.load_state_dict(state)
            except (RuntimeError, TypeError) as exc:
                raise CheckpointError(f"{folder / name} is not an MTCNN weight file ({str(exc).splitlines()[0]})") from None
            net.to(self.device).eval().requires_grad_(False)
        self.min_face = int(min_face)
        self.thresholds = thresholds
        self.factor = float(factor)

    @torch.no_grad()
    def detect(self, photo: np.ndarray) -> list[Face]:
        """Every face in an RGB uint8 photo, left to right; an empty list when there is none."""
        if not isinstance(photo, np.ndarray) or photo.dtype != np.uint8 or photo.ndim != 3 or photo.shape[2] != 3:
            raise BadInputError("face detection needs an RGB picture (H x W x 3, uint8)")
        h, w = photo.shape[:2]
        scale = min(1.0, DETECT_MAX_SIDE / max(h, w))
        img = torch.tensor(photo, device=self.device).permute(2, 0, 1)[None].float()
        if scale < 1.0:
            size = (max(1, round(h * scale)), max(1, round(w * scale)))
            img = F.interpolate(img, size=size, mode="area")
        if min(img.shape[-2:]) < 12:
            return []
        boxes = self._propose(img)
        if len(boxes):
            boxes = self._refine(img, boxes)
        if not len(boxes):
            return []
        boxes, points = self._output(img, boxes)
        sx, sy = w / img.shape[-1], h / img.shape[-2]
        faces = []
        for b, p in zip(boxes.cpu().numpy(), points.cpu().numpy()):
            box = (float(b[0] * sx), float(b[1] * sy), float(b[2] * sx), float(b[3] * sy))
            lm = np.stack([p[:, 0] * sx, p[:, 1] * sy], axis=1)
            faces.append(Face(box=box, score=float(b[4]), landmarks=lm))
        return sorted(faces, key=lambda f: f.centre[0])

    # -- the three stages ------------------------------------------------------------------------

    def _propose(self, img: torch.Tensor) -> torch.Tensor:
        """P-Net over the pyramid: candidate boxes (N x 5: x0, y0, x1, y1, score) after NMS and calibration."""
        h, w = img.shape[-2:]
        scale = 12.0 / self.min_face
        side = min(h, w) * scale
        found = []
        while side >= 12:
            size = (int(h * scale + 1), int(w * scale + 1))
            offsets, probs = self.pnet(_normalise(F.interpolate(img, size=size, mode="area")))
            ys, xs = torch.nonzero(probs[0] >= self.thresholds[0], as_tuple=True)
            if len(ys):
                score = probs[0, ys, xs]
                cells = torch.stack([xs, ys], dim=1).float()
                lo = torch.floor((2 * cells + 1) / scale)
                hi = torch.floor((2 * cells + 12) / scale)
                reg = offsets[0, :, ys, xs].T
                boxes = torch.cat([lo, hi, score[:, None], reg], dim=1)
                keep = _nms(boxes, 0.5)
                found.append(boxes[keep])
            scale *= self.factor
            side *= self.factor
        if not found:
            return torch.zeros(0, 5, device=img.device)
        boxes = torch.cat(found)
        boxes = boxes[_nms(boxes, 0.7)]
        extent = boxes[:, 2:4] - boxes[:, 0:2]
        corrected = torch.cat([boxes[:, 0:2] + boxes[:, 5:7] * extent, boxes[:, 2:4] + boxes[:, 7:9] * extent], dim=1)
        return _square(torch.cat([corrected, boxes[:, 4:5]], dim=1))

    def _refine(self, img: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
        """R-Net on 24 x 24 crops: keep the face-like boxes and move them by its offsets."""
        offsets, probs = self.rnet(_normalise(_crops(img, boxes, 24)))
        keep = probs > self.thresholds[1]
        boxes = torch.cat([boxes[keep, :4], probs[keep, None]], dim=1)
        offsets = offsets[keep]
        pick = _nms(boxes, 0.7)
        return _square(_calibrate(boxes[pick], offsets[pick]))

    def _output(self, img: torch.Tensor, boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """O-Net on 48 x 48 crops: final boxes and landmarks (N x 5 x 2) in image pixel indices."""
        offsets, marks, probs = self.onet(_normalise(_crops(img, boxes, 48)))
        keep = probs > self.thresholds[2]
        boxes = torch.cat([boxes[keep, :4], probs[keep, None]], dim=1)
        marks, offsets = marks[keep], offsets[keep]
        bw = (boxes[:, 2] - boxes[:, 0] + 1)[:, None]
        bh = (boxes[:, 3] - boxes[:, 1] + 1)[:, None]
        px = boxes[:, 0:1] + marks[:, 0:5] * bw - 1
        py = boxes[:, 1:2] + marks[:, 5:10] * bh - 1
        points = torch.stack([px, py], dim=2)
        boxes = _calibrate(boxes, offsets)
        pick = _nms_min(boxes, 0.7)
        return boxes[pick], points[pick]


def _nms(boxes: torch.Tensor, iou: float) -> torch.Tensor:
    from torchvision.ops import batched_nms  # here: importing torchvision costs a second of every start that finds no face

    return batched_nms(boxes[:, :4], boxes[:, 4], torch.zeros(len(boxes), dtype=torch.long, device=boxes.device), iou)


def _nms_min(boxes: torch.Tensor, threshold: float) -> torch.Tensor:
    """NMS measuring overlap by the smaller box's area: drops a small box nested in a larger face."""
    order = torch.argsort(boxes[:, 4], descending=True)
    area = (boxes[:, 2] - boxes[:, 0] + 1) * (boxes[:, 3] - boxes[:, 1] + 1)
    keep: list[int] = []
    for i in order.tolist():
        if keep:
            k = torch.tensor(keep, device=boxes.device)
            ix0 = torch.maximum(boxes[k, 0], boxes[i, 0])
            iy0 = torch.maximum(boxes[k, 1], boxes[i, 1])
            ix1 = torch.minimum(boxes[k, 2], boxes[i, 2])
            iy1 = torch.minimum(boxes[k, 3], boxes[i, 3])
            inter = (ix1 - ix0 + 1).clamp(min=0) * (iy1 - iy0 + 1).clamp(min=0)
            if (inter / torch.minimum(area[k], area[i])).max() > threshold:
                continue
        keep.append(i)
    return torch.tensor(keep, dtype=torch.long, device=boxes.device)


def _calibrate(boxes: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Move each box's corners by the network's offsets, in units of the box size."""
    out = boxes.clone()
    w = (boxes[:, 2] - boxes[:, 0] + 1)[:, None]
    h = (boxes[:, 3] - boxes[:, 1] + 1)[:, None]
    scale = torch.cat([w, h, w, h], dim=1)
    out[:, :4] = boxes[:, :4] + offsets * scale
    return out


def _square(boxes: torch.Tensor) -> torch.Tensor:
    """Grow each box to a square around its centre (the next stage sees square windows)."""
    out = boxes.clone()
    w = boxes[:, 2] - boxes[:, 0]
    h = boxes[:, 3] - boxes[:, 1]
    side = torch.maximum(w, h)
    out[:, 0] = boxes[:, 0] + (w - side) * 0.5
    out[:, 1] = boxes[:, 1] + (h - side) * 0.5
    out[:, 2] = out[:, 0] + side
    out[:, 3] = out[:, 1] + side
    return out


def _crops(img: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """Each box cut from the image (clipped to it, 1-based inclusive as MTCNN's boxes are) and resized."""
    h, w = img.shape[-2:]
    b = boxes[:, :4].trunc().long().tolist()
    out = []
    for x0, y0, x1, y1 in b:
        x0, y0 = max(x0, 1), max(y0, 1)
        x1, y1 = min(x1, w), min(y1, h)
        if x1 < x0 or y1 < y0:
            patch = torch.zeros(1, 3, size, size, device=img.device)
        else:
            patch = F.interpolate(img[:, :, y0 - 1:y1, x0 - 1:x1], size=(size, size), mode="area")
        out.append(patch)
    return torch.cat(out) if out else torch.zeros(0, 3, size, size, device=img.device)
