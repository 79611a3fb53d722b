"""The end of an epoch's measurements: batch-norm statistics re-estimated with the final weights
("precise BN"), then the held-out clips' losses and zero-shot accuracy, pooled over all processes."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from sgim_desktop.engine.clip_space import normalize
from sgim_desktop.training.augment import apply_masks, spec_augment_masks
from sgim_desktop.training.config import TrainConfig
from sgim_desktop.training.datasets import Clip, shrink_input
from sgim_desktop.training.distributed import Dist, seeded_generator
from sgim_desktop.training.losses import ContrastiveModel, contrastive_loss, gather_rows_nograd
from sgim_desktop.training.prepare import RunData, Targets

Masks = tuple[torch.Tensor, torch.Tensor]


@dataclass(frozen=True)
class Precision:
    """The autocast the run uses (float16 on CUDA by default, bfloat16 when asked for on the CPU)."""

    enabled: bool
    dtype: torch.dtype


class Evaluator:
    def __init__(self, cfg: TrainConfig, ctx: Dist, model: ContrastiveModel, data: RunData, targets: Targets,
                 precision: Precision) -> None:
        self.cfg, self.ctx, self.model, self.data, self.targets, self.precision = cfg, ctx, model, data, targets, precision

    @torch.no_grad()
    def recalibrate_batch_norm(self, epoch: int) -> None:
        """Re-estimate batch-norm statistics with the current weights on clean training batches (all processes pooled)."""
        cfg, ctx, data = self.cfg, self.ctx, self.data
        norms = [m for m in self.model.encoder.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        if cfg.bn_batches <= 0 or not norms:
            return
        order = torch.randperm(len(data.train_clips), generator=seeded_generator(cfg.seed, "batch-norm", epoch)).tolist()
        count = min(cfg.bn_batches, len(order) // data.batch)
        momenta = [m.momentum for m in norms]
        for m in norms:
            m.reset_running_stats()
            m.momentum = None  # a plain average over the batches below
        encoder, device = self.model.encoder, ctx.device
        encoder.train()
        lo = ctx.rank * data.local_batch
        for k in range(count):
            idx = order[k * data.batch : (k + 1) * data.batch][lo : lo + data.local_batch]
            x = torch.stack([data.cache.load(data.train_clips[i].path) for i in idx]).to(device)
            with torch.autocast(device.type, dtype=self.precision.dtype, enabled=self.precision.enabled):
                encoder(shrink_input(x, cfg.input_pool))
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
            if ctx.world > 1:
                assert m.running_mean is not None and m.running_var is not None  # reset above: they are tracked
                second = m.running_var + m.running_mean**2
                dist.all_reduce(m.running_mean, group=ctx.group)
                dist.all_reduce(second, group=ctx.group)
                m.running_mean /= ctx.world
                m.running_var.copy_(second / ctx.world - m.running_mean**2)

    @torch.no_grad()
    def _embed(self, clips: list[Clip], index: list[int], masks: Masks | None) -> torch.Tensor:
        encoder, device, out = self.model.encoder, self.ctx.device, []
        for s in range(0, len(index), self.cfg.eval_batch):
            chunk = index[s : s + self.cfg.eval_batch]
            x = torch.stack([self.data.cache.load(clips[i].path) for i in chunk]).to(device)
            if masks is not None:
                x = apply_masks(x, masks[0][chunk], masks[1][chunk])
            with torch.autocast(device.type, dtype=self.precision.dtype, enabled=self.precision.enabled):
                emb = encoder(shrink_input(x, self.cfg.input_pool))
            out.append(normalize(emb.float()))
        return torch.cat(out) if out else torch.zeros(0, 512, device=device)

    @torch.no_grad()
    def _embed_all(self, clips: list[Clip], masks: Masks | None) -> torch.Tensor:
        """Every process embeds every world-th clip; the rows are gathered back into the clips' order."""
        n, world, rank = len(clips), self.ctx.world, self.ctx.rank
        per = -(-n // world)
        mine = [min(n - 1, rank + j * world) for j in range(per)]
        local = self._embed(clips, mine, masks)
        gathered = gather_rows_nograd(local, self.ctx.group).view(world, per, -1)
        full = torch.empty(n, local.shape[1], device=local.device)
        for r in range(world):
            for j in range(per):
                i = r + j * world
                if i < n:
                    full[i] = gathered[r, j]
        return full

    @torch.no_grad()
    def validate(self) -> dict[str, float]:
        clips, device, data, targets = self.data.val_clips, self.ctx.device, self.data, self.targets
        self.model.eval()
        try:
            masks = spec_augment_masks(len(clips), seeded_generator(self.cfg.seed, "validation"))
            audio = self._embed_all(clips, None)
            aug = self._embed_all(clips, masks) if "audio" in targets.terms else None
        finally:
            self.model.train()
        label_ids = torch.tensor([data.label_id[c.label] for c in clips], device=device)
        plain = targets.text_table[targets.bank.plain(torch.arange(len(data.labels))).to(device)]
        zero_shot = float(((audio @ plain.t()).argmax(dim=1) == label_ids).float().mean())
        sums: dict[str, float] = {}
        count = 0
        for s in range(0, len(clips), data.batch):
            sl = slice(s, min(len(clips), s + data.batch))
            if sl.stop - sl.start < 2:
                continue
            count += 1
            a, ids = audio[sl], label_ids[sl]
            terms = {}
            if "text" in targets.terms:
                terms["text"] = contrastive_loss(a, plain[ids], self.model.scale("text"), ids)
            if aug is not None:
                terms["audio"] = contrastive_loss(a, aug[sl], self.model.scale("audio"))
            if "image" in targets.terms and targets.image_table is not None:
                rows = torch.tensor([targets.image_row.get(c.path, -1) for c in clips[sl]])
                has = rows >= 0
                if int(has.sum()) >= 2:
                    terms["image"] = contrastive_loss(a[has.to(device)], targets.image_table[rows[has].to(device)],
                                                      self.model.scale("image"))
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + float(v)
        result = {"val_zero_shot": zero_shot}
        if count:
            result.update({f"val_loss_{k}": v / count for k, v in sums.items()})
            result["val_loss"] = sum(targets.weights[k] * v / count for k, v in sums.items())
        return result
