"""Sets: the files one task needs ("Edit landscapes"), fetched as one job with one progress and one ETA.

A first run offers tasks, not files. A set's download checks the free space for every file before the
first byte, resumes what an earlier run left (each file's ``.part``), can be cancelled, and when a file
cannot be fetched (offline, a host gone) stops with the list of what is left: each file, its size,
where to get it and the ``models import`` line that puts it in place.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sgim_desktop.checkpoints.catalog import CheckpointSpec, SetSpec
from sgim_desktop.checkpoints.disk import check_free_space
from sgim_desktop.checkpoints.manager import ModelManager, ModelStatus
from sgim_desktop.checkpoints.meter import DownloadProgress, Meter
from sgim_desktop.checkpoints.units import human_bytes
from sgim_desktop.errors import CheckpointError


@dataclass
class SetPlan:
    """Where a set stands: each file's status, what is left to fetch, the licences that come with it."""

    set: SetSpec
    files: list[ModelStatus]

    @property
    def todo(self) -> list[ModelStatus]:
        return [st for st in self.files if st.state != "verified"]

    @property
    def ready(self) -> bool:
        return not self.todo

    def total_bytes(self) -> int:
        """The published sizes of the whole set (files of unknown size count as 0: see ``unknown``)."""
        return sum(st.spec.download_size() or 0 for st in self.files)

    def unknown(self, files: list[ModelStatus] | None = None) -> int:
        return sum(1 for st in (self.files if files is None else files) if st.spec.download_size() is None)

    def bytes_left(self, files: list[ModelStatus] | None = None) -> int:
        """Bytes still to fetch for the files of known size, less what their partial downloads hold."""
        return sum(max(0, (st.spec.download_size() or 0) - st.partial_bytes) for st in (self.todo if files is None else files))

    def in_local_caches(self) -> list[ModelStatus]:
        """Files still to get that a Hugging Face or torch cache holds at a published size: their hash is
        checked and they are linked in, not downloaded (``local_caches``)."""
        from sgim_desktop.checkpoints.local_caches import candidates

        return [st for st in self.todo if not st.partial_bytes and candidates(st.spec)]

    def licences(self) -> list[tuple[str, list[str]]]:
        """Each distinct licence with the ids it covers, in set order."""
        found: dict[str, list[str]] = {}
        for st in self.files:
            found.setdefault(st.spec.license, []).append(st.spec.id)
        return list(found.items())

    def licence_names(self) -> str:
        """'MIT, CC BY-NC-SA 4.0 (some for non-commercial use only)': the licences' names, for one line."""
        names = dict.fromkeys(st.spec.license.split(" (")[0].split(";")[0].strip() for st in self.files)
        text = ", ".join(names)
        if any("non-commercial" in st.spec.license_summary.lower() for st in self.files):
            text += " (some for non-commercial use only)"
        return text

    def size_text(self) -> str:
        """'3 files, 605.1 MB + 2 of unknown size' (the whole set)."""
        n = len(self.files)
        text = f"{n} file{'s' if n != 1 else ''}, {human_bytes(self.total_bytes())}"
        unknown = self.unknown()
        return text + (f" + {unknown} of unknown size" if unknown else "")

    def state_text(self) -> str:
        if self.ready:
            return "ready"
        left, cached = self.todo, self.in_local_caches()
        if len(left) == len(self.files) and not any(st.partial_bytes for st in left) and not cached:
            return "nothing downloaded yet"
        fetch = [st for st in left if st not in cached]
        unknown = self.unknown(fetch)
        more = f" + {unknown} of unknown size" if unknown else ""
        text = f"{len(left)} of {len(self.files)} files to get: {human_bytes(self.bytes_left(fetch))}{more}"
        if cached:
            text += f" ({', '.join(st.spec.filename for st in cached)} found in a local cache: checked, not downloaded)"
        return text


def plan_set(manager: ModelManager, set_id: str) -> SetPlan:
    spec = manager.catalog.get_set(set_id)
    return SetPlan(spec, [manager.status(i) for i in spec.ids])


@dataclass
class ManualStep:
    """How to put one file in place by hand: where it comes from and the import line."""

    spec: CheckpointSpec
    urls: list[str]

    @property
    def command(self) -> str:
        return f"sgim-desktop models import {self.spec.id} {self.spec.filename}"

    @property
    def size_text(self) -> str:
        size = self.spec.download_size()
        return human_bytes(size) if size else "size not published"


def manual_steps(manager: ModelManager, plan: SetPlan) -> list[ManualStep]:
    return [ManualStep(st.spec, manager.urls_for(st.spec)) for st in plan.todo]


def manual_text(plan: SetPlan, steps: list[ManualStep]) -> str:
    """The offline list, for the terminal."""
    lines = [f"To finish '{plan.set.title}' by hand, download these files and import each one:"]
    for step in steps:
        lines.append(f"  {step.spec.filename} ({step.spec.id}, {step.size_text})")
        lines.append("    from: " + (" or ".join(step.urls) or "no address known; see its notes: sgim-desktop models list"))
        lines.append(f"    then: {step.command}")
    return "\n".join(lines)


class SetIncomplete(CheckpointError):
    """A file of the set could not be fetched; ``steps`` say how to finish the set by hand."""

    def __init__(self, message: str, plan: SetPlan, steps: list[ManualStep]):
        super().__init__(message)
        self.plan = plan
        self.steps = steps


@dataclass
class SetProgress:
    """One report for the whole set: bytes of every file together, speed, and the time left."""

    set_id: str
    spec_id: str  # the file being worked on
    index: int  # its place among the files left (1-based)
    count: int
    done_bytes: int
    total_bytes: int  # files of known size only
    unknown_files: int  # files whose size is not known yet (their host announces it when they start)
    speed_bps: float
    eta_s: float | None
    stage: str = "download"

    @property
    def fraction(self) -> float | None:
        return min(1.0, self.done_bytes / self.total_bytes) if self.total_bytes else None


SetProgressCallback = Callable[[SetProgress], None]


class _SetMeter:
    """Folds the per-file reports of the manager into one report for the set."""

    def __init__(self, plan: SetPlan, callback: SetProgressCallback | None):
        self.plan = plan
        self.callback = callback
        self.sizes = {st.id: st.spec.download_size() for st in plan.todo}
        self.finished = 0
        self.current = 0
        self.meter = Meter(plan.set.id, None, 0.0)
        self.meter.reset(0, None)

    def for_file(self, index: int, spec_id: str) -> Callable[[DownloadProgress], None]:
        self.current = 0
        first = [True]

        def report(p: DownloadProgress) -> None:
            if p.stage == "download" and p.total_bytes and self.sizes.get(spec_id) is None:
                self.sizes[spec_id] = p.total_bytes  # the host announced a size nobody published
            if first[0]:
                first[0] = False
                self.current = p.done_bytes  # resumed bytes count as done, not as speed
            elif p.done_bytes > self.current:
                self.meter.add(p.done_bytes - self.current)
                self.current = p.done_bytes
            self.emit(index, spec_id, p.stage)

        return report

    def file_done(self, spec_id: str) -> None:
        size = self.sizes.get(spec_id) or self.current
        self.sizes[spec_id] = size
        self.finished += size
        self.current = 0

    def emit(self, index: int, spec_id: str, stage: str) -> None:
        if self.callback is None:
            return
        total = sum(s for s in self.sizes.values() if s)
        unknown = sum(1 for s in self.sizes.values() if not s)
        done = self.finished + self.current
        speed = self.meter.speed()
        eta = (total - done) / speed if speed > 0 and total > done else None
        self.callback(SetProgress(self.plan.set.id, spec_id, index, len(self.sizes), done, total, unknown, speed, eta, stage))


def download_set(
    manager: ModelManager,
    set_id: str,
    progress: SetProgressCallback | None = None,
    cancel: threading.Event | None = None,
) -> list[Path]:
    """Fetch every file of the set that is not ready; the paths of the whole set.

    CheckpointError (nothing written) when the known sizes do not fit on the disk; Cancelled when asked
    (partial files stay for the next run); SetIncomplete naming what is left when a file cannot be fetched.
    """
    plan = plan_set(manager, set_id)
    if plan.todo:
        check_free_space(manager.models_dir, plan.bytes_left(), manager.options.free_space_margin)
    meter = _SetMeter(plan, progress)
    for index, st in enumerate(plan.todo, start=1):
        try:
            manager.ensure(st.id, progress=meter.for_file(index, st.id), cancel=cancel)
        except CheckpointError as exc:
            left = plan_set(manager, set_id)
            raise SetIncomplete(str(exc), left, manual_steps(manager, left)) from None
        meter.file_done(st.id)
        meter.emit(index, st.id, "done")
    return [manager.path_for(i) for i in plan.set.ids]
