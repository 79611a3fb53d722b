"""The training loop: one model on this process's share of every global batch, epoch after epoch,
with a resume file, CSV logs and the encoder written as it goes."""

from __future__ import annotations

import json
import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from sgim_desktop.engine.audio_encoder import AudioEncoder, load_audio_encoder
from sgim_desktop.engine.clip_space import normalize
from sgim_desktop.errors import BadInputError, CheckpointError
from sgim_desktop.training.augment import apply_masks, spec_augment_masks
from sgim_desktop.training.config import PROVENANCE, TrainConfig, TrainProgress, TrainResult
from sgim_desktop.training.datasets import BatchInputs, shrink_input
from sgim_desktop.training.distributed import Dist, seeded_generator
from sgim_desktop.training.losses import ContrastiveModel, contrastive_loss, gather_rows
from sgim_desktop.training.plots import plot_training
from sgim_desktop.training.prepare import Targets, embed_targets, prepare_data
from sgim_desktop.training.run_files import (
    BEST_NAME,
    EPOCH_COLUMNS,
    LAST_NAME,
    PROGRESS_COLUMNS,
    RESUME_FORMAT,
    RESUME_NAME,
    append_row,
    as_tuple,
    atomic_save,
    atomic_text,
    plain,
    save_encoder,
    truncate_csv,
)
from sgim_desktop.training.validation import Evaluator, Precision


def lr_at(step: int, total: int, warmup: int, base: float, schedule: str) -> float:
    if warmup > 0 and step < warmup:
        return base * (step + 1) / warmup
    if schedule == "constant":
        return base
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return base * 0.5 * (1.0 + math.cos(math.pi * progress))


class Trainer:
    """One process's part of a run (``cfg.epochs`` is set: ``train`` fills the default)."""

    def __init__(self, cfg: TrainConfig, ctx: Dist, progress: Callable[[TrainProgress], None] | None,
                 cancel: threading.Event | None):
        assert cfg.epochs is not None  # train() fills the paper's default before a Trainer exists
        self.cfg, self.ctx, self.epochs = cfg, ctx, cfg.epochs
        self.progress = progress if ctx.rank == 0 else None
        self.cancel = cancel
        self.out = Path(cfg.out)
        self.first_loss: float | None = None
        self.last_loss: float | None = None
        self.best_val: float | None = None
        self.last_val: dict[str, float] = {}
        self.in_step: bool | None = None

    def report(self, p: TrainProgress) -> None:
        if self.progress is not None:
            self.progress(p)

    # -- setup -----------------------------------------------------------------------------------

    def build_model(self, state: dict[str, Any] | None) -> None:
        cfg, ctx = self.cfg, self.ctx
        torch.manual_seed(cfg.seed)
        encoder = load_audio_encoder(cfg.init) if cfg.init is not None and state is None else AudioEncoder()
        encoder.requires_grad_(True).train()
        self.model = ContrastiveModel(encoder, self.targets.terms)
        if state is not None:
            try:
                self.model.load_state_dict(state["model"], strict=True)
            except (RuntimeError, KeyError) as exc:
                first = str(exc).splitlines()[0]
                raise CheckpointError(f"{self.out / RESUME_NAME} does not match this run's model: {first}") from exc
        self.model.to(ctx.device)
        if ctx.world > 1:
            ids = [ctx.device.index] if ctx.device.type == "cuda" else None
            self.net: nn.Module = nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        else:
            self.net = self.model
        decay = [p for n, p in self.model.named_parameters() if p.ndim >= 2]
        rest = [p for n, p in self.model.named_parameters() if p.ndim < 2]
        self.optimizer = torch.optim.AdamW(
            [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": rest, "weight_decay": 0.0}],
            lr=cfg.lr, betas=(0.9, 0.999), eps=1e-8,
        )
        cuda = ctx.device.type == "cuda"
        self.precision = Precision(cfg.amp == "on" or (cfg.amp == "auto" and cuda), torch.float16 if cuda else torch.bfloat16)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.precision.enabled and cuda)
        if state is not None:
            self.optimizer.load_state_dict(state["optimizer"])
            if state.get("scaler"):
                self.scaler.load_state_dict(state["scaler"])

    # -- one step --------------------------------------------------------------------------------

    def train_step(self, x: torch.Tensor, idx: list[int], step: int) -> dict[str, float]:
        cfg, ctx, device, data, targets = self.cfg, self.ctx, self.ctx.device, self.data, self.targets
        b, lo = data.local_batch, self.ctx.rank * data.local_batch
        g = seeded_generator(cfg.seed, "step", step)
        label_ids = torch.tensor([data.label_id[data.train_clips[i].label] for i in idx])
        freq, time_ = spec_augment_masks(len(idx), g)
        text_rows = targets.bank.sample(label_ids, g, cfg.word_p)
        x = x.to(device, non_blocking=True)
        if "audio" in targets.terms:
            x = torch.cat([x, apply_masks(x, freq[lo : lo + b], time_[lo : lo + b])])
        x = shrink_input(x, cfg.input_pool)
        with torch.autocast(device.type, dtype=self.precision.dtype, enabled=self.precision.enabled):
            emb = self.net(x)
        emb = normalize(emb.float())
        views = 2 if "audio" in targets.terms else 1
        everything = gather_rows(emb, ctx.group).view(ctx.world, views, b, -1)
        audio = everything[:, 0].reshape(len(idx), -1)
        parts: dict[str, torch.Tensor] = {}
        if "text" in targets.terms:
            parts["text"] = contrastive_loss(audio, targets.text_table[text_rows.to(device)], self.model.scale("text"),
                                             label_ids.to(device))
        if "audio" in targets.terms:
            parts["audio"] = contrastive_loss(audio, everything[:, 1].reshape(len(idx), -1), self.model.scale("audio"))
        if "image" in targets.terms and targets.image_table is not None:
            rows = torch.tensor([targets.image_row.get(data.train_clips[i].path, -1) for i in idx])
            has = rows >= 0
            if int(has.sum()) >= 2:
                parts["image"] = contrastive_loss(audio[has.to(device)], targets.image_table[rows[has].to(device)],
                                                  self.model.scale("image"))
            else:
                parts["image"] = 0.0 * self.model.scale("image")
        loss = sum(targets.weights[k] * v for k, v in parts.items())
        assert isinstance(loss, torch.Tensor)  # at least one term: embed_targets refuses a run without any
        for group in self.optimizer.param_groups:
            group["lr"] = lr_at(step, data.total_steps, data.warmup, cfg.lr, cfg.schedule)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        out = {"loss": float(loss.detach()), "global_batch": float(audio.shape[0])}
        out.update({f"loss_{k}": float(v.detach()) for k, v in parts.items()})
        out.update({f"scale_{k}": float(self.model.scale(k).detach()) for k in targets.terms})
        return out

    # -- saving ----------------------------------------------------------------------------------

    def save_resume(self, epoch: int, batch: int, step: int) -> None:
        if not self.ctx.is_main:
            return
        state = {
            "format": RESUME_FORMAT,
            "config": self.cfg.to_dict(),
            "labels": self.data.labels,
            "model": {k: v.detach().cpu() for k, v in self.model.state_dict().items()},
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else {},
            "epoch": epoch,
            "batch": batch,
            "step": step,
            "best_val": self.best_val,
            "epoch_loss_sum": self.epoch_loss_sum,
            "epoch_loss_count": self.epoch_loss_count,
            "elapsed_s": self.elapsed(),
            "first_loss": self.first_loss,
            "rng": {
                "torch": torch.get_rng_state(),
                "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
                "python": random.getstate(),
            },
        }
        atomic_save(state, self.out / RESUME_NAME)

    def elapsed(self) -> float:
        return self.elapsed_before + (time.monotonic() - self.started)

    def write_run_json(self, extra: dict[str, Any]) -> None:
        if not self.ctx.is_main:
            return
        info = {
            "config": self.cfg.to_dict(),
            "defaults": PROVENANCE,
            "data": self.data.note,
            "terms": list(self.targets.terms),
            "world_size": self.ctx.world,
            "device": str(self.ctx.device),
            "amp": self.precision.enabled,
            "clip_texts": len(self.targets.bank.texts),
            **extra,
        }
        atomic_text(self.out / "run.json", json.dumps(info, indent=2, default=str) + "\n")

    # -- the run ---------------------------------------------------------------------------------

    def run(self, state: dict[str, Any] | None) -> TrainResult:
        cfg, ctx = self.cfg, self.ctx
        self.started = time.monotonic()
        self.elapsed_before = float(state.get("elapsed_s", 0.0)) if state else 0.0
        data = prepare_data(cfg, self.epochs, ctx, self.out, self.report, self.cancel)
        if data is None:
            return self.result(cancelled=True, epoch=0, step=0)
        self.data = data
        if state is not None and state.get("labels") != data.labels:
            raise BadInputError("the dataset's labels differ from those of the run being resumed")
        self.targets: Targets = embed_targets(cfg, data, ctx.device, self.report)
        self.build_model(state)
        self.evaluator = Evaluator(cfg, ctx, self.model, data, self.targets, self.precision)
        epoch0, batch0, step = (state["epoch"], state["batch"], state["step"]) if state else (0, 0, 0)
        self.best_val = state.get("best_val") if state else None
        self.epoch_loss_sum = float(state.get("epoch_loss_sum", 0.0)) if state else 0.0
        self.epoch_loss_count = int(state.get("epoch_loss_count", 0)) if state else 0
        self.first_loss = state.get("first_loss") if state else None
        if state is not None:
            rng = state.get("rng", {})
            if "torch" in rng:
                torch.set_rng_state(rng["torch"])
            if rng.get("cuda") and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(rng["cuda"])
            if rng.get("python"):
                random.setstate(as_tuple(rng["python"]))
        progress_csv, epochs_csv = self.out / "progress.csv", self.out / "epochs.csv"
        if ctx.is_main:
            if state is not None:
                truncate_csv(progress_csv, PROGRESS_COLUMNS, "step", step)
                truncate_csv(epochs_csv, EPOCH_COLUMNS, "epoch", epoch0)
            else:
                for p in (progress_csv, epochs_csv):
                    p.unlink(missing_ok=True)
            self.write_run_json({"status": "running"})
        ctx.barrier()
        window_t, window_n = time.monotonic(), 0
        for epoch in range(epoch0, self.epochs):
            order = torch.randperm(len(data.train_clips), generator=seeded_generator(cfg.seed, "order", epoch))
            batches = [order[k * data.batch : (k + 1) * data.batch].tolist() for k in range(data.steps_per_epoch)]
            start = batch0 if epoch == epoch0 else 0
            lo = ctx.rank * data.local_batch
            local = [bt[lo : lo + data.local_batch] for bt in batches[start:]]
            loader = torch.utils.data.DataLoader(
                BatchInputs(data.cache, data.train_clips, local), batch_size=None, num_workers=cfg.workers,
                pin_memory=ctx.device.type == "cuda",
            )
            self.net.train()
            for k, x in enumerate(loader, start=start):
                stats = self.train_step(x, batches[k], step)
                step += 1
                window_n += len(batches[k])
                self.epoch_loss_sum += stats["loss"]
                self.epoch_loss_count += 1
                self.last_loss = stats["loss"]
                if self.first_loss is None:
                    self.first_loss = stats["loss"]
                now = time.monotonic()
                rate = window_n / max(1e-9, now - window_t)
                if ctx.is_main:
                    lr = self.optimizer.param_groups[0]["lr"]
                    append_row(progress_csv, PROGRESS_COLUMNS, {
                        **stats, "epoch": epoch + 1, "step": step, "batch": k + 1, "lr": lr,
                        "global_batch": int(stats["global_batch"]), "clips_per_s": rate, "elapsed_s": self.elapsed(),
                    })
                    if step % max(1, cfg.log_every) == 0 or k + 1 == data.steps_per_epoch:
                        eta = (data.total_steps - step) * data.batch / rate if rate > 0 else None
                        self.report(TrainProgress(
                            "train", k + 1, data.steps_per_epoch, epoch + 1, self.epochs, step, data.total_steps,
                            stats["loss"], {t: stats[f"loss_{t}"] for t in self.targets.terms}, lr, rate, eta,
                        ))
                        window_t, window_n = now, 0
                stop = ctx.any_stop(self.cancel)
                if stop or (cfg.save_every > 0 and step % cfg.save_every == 0):
                    self.save_resume(epoch, k + 1, step)
                if stop:
                    ctx.barrier()
                    self.write_run_json({"status": "cancelled", "step": step})
                    return self.result(cancelled=True, epoch=epoch, step=step)
            self.end_epoch(epoch, step)
            batch0 = 0
        if ctx.is_main:
            self.write_run_json({"status": "done", "result": plain(asdict(self.result(False, self.epochs, step)))})
        ctx.barrier()
        return self.result(cancelled=False, epoch=self.epochs, step=step)

    def end_epoch(self, epoch: int, step: int) -> None:
        ctx, data = self.ctx, self.data
        self.report(TrainProgress("validate", epoch=epoch + 1, epochs=self.epochs, step=step, total_steps=data.total_steps))
        self.evaluator.recalibrate_batch_norm(epoch)
        val = self.evaluator.validate() if data.val_clips else {}
        self.last_val = val
        self.in_step = ctx.in_step(self.model)
        if not self.in_step:
            raise RuntimeError(f"the {ctx.world} training processes hold different weights after epoch {epoch + 1}")
        train_loss = self.epoch_loss_sum / self.epoch_loss_count if self.epoch_loss_count else float("nan")
        self.epoch_loss_sum, self.epoch_loss_count = 0.0, 0
        if ctx.is_main:
            save_encoder(self.model.encoder, self.out / LAST_NAME)
            val_loss = val.get("val_loss")
            if val_loss is None or self.best_val is None or val_loss < self.best_val:
                self.best_val = val_loss if val_loss is not None else self.best_val
                save_encoder(self.model.encoder, self.out / BEST_NAME)
            append_row(self.out / "epochs.csv", EPOCH_COLUMNS, {
                "epoch": epoch + 1, "step": step, "train_loss": train_loss, **val, "elapsed_s": self.elapsed(),
            })
            self.save_resume(epoch + 1, 0, step)
            plot_training(self.out / "progress.csv", self.out / "epochs.csv", self.out / "loss.png")
            msg = f"epoch {epoch + 1}/{self.epochs}: train loss {train_loss:.4f}"
            if "val_loss" in val:
                msg += f", validation loss {val['val_loss']:.4f}"
            if "val_zero_shot" in val:
                msg += f", validation zero-shot {100 * val['val_zero_shot']:.1f}% (chance {100 / len(data.labels):.1f}%)"
            self.report(TrainProgress("epoch", epoch + 1, self.epochs, epoch + 1, self.epochs, step, data.total_steps,
                                      train_loss, message=msg))
        ctx.barrier()

    def result(self, cancelled: bool, epoch: int, step: int) -> TrainResult:
        last, best, resume = self.out / LAST_NAME, self.out / BEST_NAME, self.out / RESUME_NAME
        return TrainResult(
            out=self.out,
            encoder_last=last if last.exists() else None,
            encoder_best=best if best.exists() else None,
            resume_file=resume if resume.exists() else None,
            epochs_done=epoch,
            step=step,
            cancelled=cancelled,
            first_loss=self.first_loss,
            last_loss=self.last_loss,
            best_val_loss=self.best_val,
            val_zero_shot=self.last_val.get("val_zero_shot"),
            world_size=self.ctx.world,
            in_step=self.in_step,
        )
