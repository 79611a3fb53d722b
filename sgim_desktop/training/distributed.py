"""What several training processes (``torchrun``) share: one device each, a process group, seeded
randomness that is the same on every process, and the checks that they stay in step."""

from __future__ import annotations

import hashlib
import os
import threading
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from sgim_desktop.engine.device import pick_device
from sgim_desktop.training.gloo_interface import pin_gloo_to_loopback
from sgim_desktop.training.losses import gather_rows_nograd

# processes wait for each other at barriers, e.g. while the others fill their share of the input cache (hours
# for VGGSound the first time), so collectives may take far longer than torch's default timeout
DIST_TIMEOUT = timedelta(hours=6)


@dataclass
class Dist:
    """This process's place in the run: its rank among ``world`` processes, its device, its group."""

    rank: int
    world: int
    device: torch.device
    group: Any
    owns_group: bool

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def any_stop(self, cancel: threading.Event | None) -> bool:
        """Whether any process was asked to stop: all of them then stop at the same step."""
        stop = cancel is not None and cancel.is_set()
        if self.world > 1:
            t = torch.tensor([1 if stop else 0], device=self.device)
            dist.all_reduce(t, op=dist.ReduceOp.MAX)
            stop = bool(t.item())
        return stop

    def in_step(self, model: nn.Module) -> bool:
        """Whether every process holds bit-identical weights."""
        prints = gather_rows_nograd(fingerprint(model, self.device).view(1, -1), self.group)
        return bool((prints == prints[0]).all())


def process_device(name: str, local_rank: int = 0) -> torch.device:
    """This process's device: the one device choice (``engine.device``), on a GPU its local rank picks."""
    if pick_device(name) == "cuda":
        return torch.device("cuda", local_rank % max(1, torch.cuda.device_count()))
    return torch.device("cpu")


def setup_distributed(device_name: str, backend: str) -> Dist:
    """Join the process group torchrun describes in the environment (one process: no group)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = process_device(device_name, local)
    if world <= 1:
        return Dist(0, 1, device, None, False)
    owns = False
    if not dist.is_initialized():
        if backend == "auto":
            backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        if backend == "gloo":
            pin_gloo_to_loopback()
        dist.init_process_group(backend=backend, timeout=DIST_TIMEOUT)
        owns = True
    group = dist.new_group(timeout=DIST_TIMEOUT)
    return Dist(dist.get_rank(), dist.get_world_size(), device, group, owns)


def seeded_generator(seed: int, *parts: object) -> torch.Generator:
    """A generator whose stream depends only on the seed and the parts (epoch, step...): the same on every process."""
    digest = hashlib.sha256(":".join(map(str, (seed, *parts))).encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") & ((1 << 63) - 1))


def fingerprint(model: nn.Module, device: torch.device) -> torch.Tensor:
    """A hash of every parameter's bytes, as 4 int64s: equal on all processes when they are in step."""
    h = hashlib.sha1()
    for _, p in sorted(model.named_parameters()):
        h.update(p.detach().float().cpu().contiguous().numpy().tobytes())
    d = h.digest()
    return torch.tensor([int.from_bytes(d[i : i + 4], "little") for i in range(0, 16, 4)], dtype=torch.int64, device=device)
