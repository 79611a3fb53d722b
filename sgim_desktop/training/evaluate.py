"""How well an audio encoder lands in CLIP's space: zero-shot and linear-probe accuracy on labelled sets.

- Zero-shot: a clip's class is the one whose prompt (``template`` filled with the class name, underscores
  read as spaces; default "{}", the bare name, as ``hear`` uses) has the highest cosine with the clip's
  embedding. Accuracy over every clip of the set, and per fold.
- Linear probe: multinomial logistic regression on the unit embeddings, standardised with the training
  folds' mean and deviation, L2-regularised like scikit-learn's default (C = 1), fitted with L-BFGS in
  float64. Trained on all folds but one and tested on that one, for each of the dataset's folds
  (ESC-50: 5, UrbanSound8K: 10); the score is the mean over folds, as both datasets prescribe.

Clips go through the app's front end and encoder (``engine.audio`` and ``engine.audio_encoder``), the
first ~10 s window of each (both datasets' clips are shorter: one window, zero-padded).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from sgim_desktop.engine.clip_space import normalize
from sgim_desktop.errors import BadInputError
from sgim_desktop.training.datasets import Clip, ClipInputs, InputCache, LabelledSet, label_text, shrink_input

# The paper's Table (Lee et al., CVPR 2022): zero-shot and linear-probe top-1 of the released encoder.
PAPER = {"ESC-50": {"zero_shot": 0.578, "linear_probe": 0.722}, "UrbanSound8K": {"zero_shot": 0.457, "linear_probe": 0.668}}
DEFAULT_TEMPLATE = "{}"


@torch.no_grad()
def embed_clips(
    encoder: nn.Module,
    cache: InputCache,
    clips: Sequence[Clip],
    device: str | torch.device = "cpu",
    batch: int = 64,
    input_pool: int = 1,
    workers: int = 0,
    on_done: Callable[[int, int], None] | None = None,
) -> torch.Tensor:
    """Unit embeddings (N x 512, CPU float32) of clips' cached encoder inputs, the encoder in eval mode."""
    was_training = encoder.training
    encoder.eval()
    out = []
    loader = torch.utils.data.DataLoader(ClipInputs(cache, clips), batch_size=batch, num_workers=workers)
    try:
        for x in loader:
            emb = encoder(shrink_input(x.to(device), input_pool)).float()
            out.append(normalize(emb).cpu())
            if on_done is not None:
                on_done(sum(len(o) for o in out), len(clips))
    finally:
        encoder.train(was_training)
    return torch.cat(out) if out else torch.zeros(0, 512)


def zero_shot_predictions(audio_emb: torch.Tensor, class_emb: torch.Tensor) -> torch.Tensor:
    """Index of the class prompt nearest (by cosine) to each clip."""
    return (normalize(audio_emb.float()) @ normalize(class_emb.float()).t()).argmax(dim=1)


def accuracy(pred: torch.Tensor, target: torch.Tensor) -> float:
    return float((pred == target).float().mean()) if len(target) else float("nan")


def by_fold(pred: torch.Tensor, target: torch.Tensor, folds: torch.Tensor) -> dict[int, float]:
    return {int(f): accuracy(pred[folds == f], target[folds == f]) for f in torch.unique(folds).tolist()}


def fit_logistic_regression(
    x: torch.Tensor, y: torch.Tensor, n_classes: int, c: float = 1.0, max_iter: int = 500
) -> tuple[torch.Tensor, torch.Tensor]:
    """Weights and bias minimising C * sum(cross-entropy) + ||W||^2 / 2 (scikit-learn's objective, bias free)."""
    x = x.double()
    n, d = x.shape
    w = torch.zeros(d, n_classes, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(n_classes, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS(
        [w, b], lr=1.0, max_iter=max_iter, tolerance_grad=1e-9, tolerance_change=1e-12, history_size=20,
        line_search_fn="strong_wolfe",
    )

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = (c * F.cross_entropy(x @ w + b, y, reduction="sum") + 0.5 * (w * w).sum()) / n
        loss.backward()
        return loss

    opt.step(closure)
    return w.detach(), b.detach()


def linear_probe(emb: torch.Tensor, target: torch.Tensor, folds: torch.Tensor, n_classes: int,
                 c: float = 1.0) -> dict[int, float]:
    """Leave-one-fold-out accuracy of logistic regression, per fold."""
    result = {}
    for f in torch.unique(folds).tolist():
        test = folds == f
        train = ~test
        if not train.any():
            continue
        x_train, x_test = emb[train].double(), emb[test].double()
        mean, std = x_train.mean(dim=0), x_train.std(dim=0, unbiased=False).clamp_min(1e-6)
        w, b = fit_logistic_regression((x_train - mean) / std, target[train], n_classes, c)
        pred = (((x_test - mean) / std) @ w + b).argmax(dim=1)
        result[int(f)] = accuracy(pred, target[test])
    return result


@dataclass
class DatasetResult:
    dataset: str
    clips: int
    classes: int
    missing: int
    template: str
    chance: float
    zero_shot: float
    zero_shot_by_fold: dict[int, float]
    linear_probe: float | None = None
    linear_probe_by_fold: dict[int, float] | None = None
    paper: dict[str, float] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)


def evaluate_set(
    data: LabelledSet,
    encoder: nn.Module,
    class_embeddings: Callable[[list[str]], torch.Tensor],
    cache: InputCache,
    device: str | torch.device = "cpu",
    template: str = DEFAULT_TEMPLATE,
    probe: bool = True,
    probe_c: float = 1.0,
    batch: int = 64,
    workers: int = 0,
    input_pool: int = 1,
    progress: Callable[[str, int, int], None] | None = None,
) -> DatasetResult:
    """Zero-shot (and linear-probe) accuracy of one set; unreadable clips are left out and listed.

    ``progress(stage, done, total)`` hears about the two slow stages, 'inputs' (the front end) and 'embeddings'.
    """

    def report(stage: str) -> Callable[[int, int], None] | None:
        return None if progress is None else (lambda done, total: progress(stage, done, total))

    failures = cache.fill([c.path for c in data.clips], workers=workers, on_done=report("inputs"))
    good = [c for c in data.clips if c.path not in failures]
    if not good:
        raise BadInputError(f"no clip of {data.name} could be read (e.g. {next(iter(failures.values()))})")
    data = LabelledSet(data.name, good, data.classes, data.missing)
    emb = embed_clips(encoder, cache, good, device, batch, input_pool, workers, on_done=report("embeddings"))
    target, folds = data.targets(), data.folds()
    prompts = [template.format(label_text(c)) for c in data.classes]
    pred = zero_shot_predictions(emb, class_embeddings(prompts))
    result = DatasetResult(
        dataset=data.name, clips=len(good), classes=len(data.classes), missing=len(data.missing) + len(failures),
        template=template, chance=1.0 / len(data.classes), zero_shot=accuracy(pred, target),
        zero_shot_by_fold=by_fold(pred, target, folds), paper=PAPER.get(data.name, {}),
        failed=sorted(failures.values())[:20],
    )
    if probe and len(torch.unique(folds)) >= 2:
        per_fold = linear_probe(emb, target, folds, len(data.classes), probe_c)
        result.linear_probe_by_fold = per_fold
        result.linear_probe = sum(per_fold.values()) / len(per_fold)
    return result


def _pct(v: float | None) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.1f}%"


def results_markdown(results: Sequence[DatasetResult], about: dict[str, str]) -> str:
    lines = ["# Audio encoder evaluation", ""]
    lines += [f"- {k}: {v}" for k, v in about.items()]
    if results:
        lines.append(f"- prompt template: `{results[0].template}` (class names with underscores read as spaces)")
    lines += [
        "- zero-shot: nearest class prompt by cosine in CLIP space, top-1 over all clips",
        "- linear probe: logistic regression (L-BFGS, L2 with C = 1, standardised features) on the embeddings, "
        "trained on all folds but one, tested on it, mean over the dataset's folds",
        "",
        "| dataset | clips | classes | chance | zero-shot | linear probe | paper zero-shot | paper linear probe |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r.dataset} | {r.clips} | {r.classes} | {_pct(r.chance)} | {_pct(r.zero_shot)} | {_pct(r.linear_probe)} "
            f"| {_pct(r.paper.get('zero_shot'))} | {_pct(r.paper.get('linear_probe'))} |"
        )
    for r in results:
        folds = sorted(r.zero_shot_by_fold)
        lines += ["", f"## {r.dataset} by fold", "", "| fold | " + " | ".join(map(str, folds)) + " |",
                  "|---|" + "---:|" * len(folds),
                  "| zero-shot | " + " | ".join(_pct(r.zero_shot_by_fold[f]) for f in folds) + " |"]
        if r.linear_probe_by_fold:
            lines.append("| linear probe | " + " | ".join(_pct(r.linear_probe_by_fold.get(f)) for f in folds) + " |")
        if r.missing:
            lines += ["", f"{r.missing} listed clip(s) were missing or unreadable and left out."]
    return "\n".join(lines) + "\n"


def write_results(results: Sequence[DatasetResult], out_dir: str | Path, about: dict[str, str]) -> tuple[Path, Path]:
    """``results.md`` and ``results.json`` in ``out_dir``, each written whole or not at all."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    md, js = out_dir / "results.md", out_dir / "results.json"
    payload = {"about": about, "results": [asdict(r) for r in results]}
    for path, text in ((md, results_markdown(results, about)), (js, json.dumps(payload, indent=2) + "\n")):
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    return md, js
