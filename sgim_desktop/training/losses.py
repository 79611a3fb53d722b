"""The contrastive (InfoNCE) losses that pull the audio encoder into CLIP's space, across processes too.

Every term is CLIP's symmetric InfoNCE with a learnable temperature (a logit scale, initialised at
1/0.07 and capped at 100 as in CLIP). Two choices are ours where the paper is silent:

- Clips of the same label in one batch share their label's text, so for the audio-text term all
  same-label texts count as positives: the target of a row is uniform over them, and the loss is the
  KL divergence to that target (cross-entropy minus its entropy), so a perfect match scores 0.
- Each term has its own temperature.

With several processes every process gathers the embeddings of all of them (``gather_rows``, whose
backward returns to each process the gradient of its own rows summed over all processes) and computes
the same loss over the global batch; DDP then averages parameter gradients, which gives exactly the
gradient of the single-process loss on the global batch.
"""

from __future__ import annotations

import math

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn

INIT_LOGIT_SCALE = math.log(1 / 0.07)
MAX_LOGIT_SCALE = math.log(100.0)


class _GatherRows(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, group) -> torch.Tensor:
        ctx.group = group
        ctx.rank = dist.get_rank(group)
        ctx.rows = x.shape[0]
        parts = [torch.empty_like(x) for _ in range(dist.get_world_size(group))]
        dist.all_gather(parts, x.contiguous(), group=group)
        return torch.cat(parts, dim=0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM, group=ctx.group)
        start = ctx.rank * ctx.rows
        return grad[start : start + ctx.rows], None


def distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def gather_rows(x: torch.Tensor, group=None) -> torch.Tensor:
    """All processes' rows of ``x`` (equal counts), in rank order, with gradient; ``x`` itself alone."""
    if not distributed():
        return x
    return _GatherRows.apply(x, group)


@torch.no_grad()
def gather_rows_nograd(x: torch.Tensor, group=None) -> torch.Tensor:
    if not distributed():
        return x
    parts = [torch.empty_like(x) for _ in range(dist.get_world_size(group))]
    dist.all_gather(parts, x.contiguous(), group=group)
    return torch.cat(parts, dim=0)


def contrastive_loss(a: torch.Tensor, b: torch.Tensor, logit_scale: torch.Tensor,
                     groups: torch.Tensor | None = None) -> torch.Tensor:
    """Symmetric InfoNCE between unit rows ``a[i]`` and ``b[i]``.

    ``groups`` (one id per row) makes every pair with equal ids a positive; without it only i <-> i is.
    """
    logits = logit_scale * a @ b.t()
    if groups is None:
        target = torch.arange(a.shape[0], device=a.device)
        return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target))
    positive = (groups.view(-1, 1) == groups.view(1, -1)).to(logits.dtype)
    target = positive / positive.sum(dim=1, keepdim=True)
    entropy = torch.log(positive.sum(dim=1))

    def kl(lg: torch.Tensor) -> torch.Tensor:
        return (-(target * F.log_softmax(lg, dim=1)).sum(dim=1) - entropy).mean()

    return 0.5 * (kl(logits) + kl(logits.t()))


class ContrastiveModel(nn.Module):
    """The audio encoder and the learnable temperatures of the loss terms: what DDP wraps and AdamW trains."""

    def __init__(self, encoder: nn.Module, terms: tuple[str, ...]) -> None:
        super().__init__()
        self.encoder = encoder
        self.logit_scales = nn.ParameterDict({t: nn.Parameter(torch.tensor(INIT_LOGIT_SCALE)) for t in terms})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def scale(self, term: str) -> torch.Tensor:
        """exp(logit scale), capped at 100 as CLIP caps it."""
        return self.logit_scales[term].clamp(0.0, MAX_LOGIT_SCALE).exp()
