"""``sgim-desktop bench``: the cost of an edit step on the real architectures, and what it reaches.

Each configuration (generator size, device, speed mode) runs in its own worker process, so its
peak resident memory is its own. The workers are started together and advanced one step at a
time in turn, so every configuration is timed over the same stretch of wall-clock time: on a
shared or throttling machine the ratios between them stay fair even when absolute times drift.

The weights are the fixture README's rule weights (``synthetic_weights``): the cost of a step does
not depend on the values, and rule weights give images and losses in a sane range, so the
objective each mode reaches can be compared. ``mode="original"`` is our re-implementation of the
original code's computation (``bench/original_step.py``), not its code.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

DEFAULT_EDIT_STEPS = 300
DEFAULT_PREVIEW_EVERY = 10
AUDIO_SEED = 0
SOURCE_SEED = 1
ORIGINAL_NOTE = "our re-implementation of the original code's computation (sgim_desktop/bench/original_step.py), not its code"
TIMING_NOTE = "configurations of one run are advanced one step at a time in turn, each in its own process"


@dataclass(frozen=True)
class BenchConfig:
    size: int
    device: str
    mode: str  # exact | fast | original
    steps: int
    threads: int | None = None
    fast_fraction: float | None = None  # fast mode's share of the steps (default: speed.FAST_STEP_FRACTION)


def weight_files(folder: Path, sizes: Sequence[int]) -> dict[str, Path]:
    """Rule-weighted checkpoints in the public files' formats, written once into ``folder``."""
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    files = {"clip": folder / "clip-vit-b-32.safetensors", "audio_encoder": folder / "resnet18_57.pth"}
    if not files["clip"].is_file():
        from safetensors.torch import save_file

        from sgim_desktop.engine.clip_space import rule_weighted_clip

        sd = {k: v.contiguous() for k, v in rule_weighted_clip().state_dict().items()}
        _atomic(files["clip"], lambda tmp: save_file(sd, str(tmp)))
    if not files["audio_encoder"].is_file():
        from sgim_desktop.engine.audio_encoder import rule_weighted_audio_encoder

        sd = {f"module.{k}": v for k, v in rule_weighted_audio_encoder().state_dict().items()}
        _atomic(files["audio_encoder"], lambda tmp: torch.save(sd, tmp))
    for size in sizes:
        path = folder / f"stylegan2-{size}.pt"
        files[f"generator_{size}"] = path
        if not path.is_file():
            from sgim_desktop.engine.stylegan2 import rule_weighted_generator

            sd = rule_weighted_generator(size).state_dict()
            _atomic(path, lambda tmp, sd=sd: torch.save({"g_ema": sd}, tmp))
    return files


def _atomic(path: Path, write: Callable[[Path], None]) -> None:
    tmp = path.with_name(path.name + ".part")
    write(tmp)
    tmp.replace(path)


# --- the worker: one configuration in one process ----------------------------------------------


def _peak_rss_mb() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


class Worker:
    """Builds one configuration's models and runs its edit one step per call to ``step``."""

    def __init__(self, config: BenchConfig, files: dict[str, str]):
        import torch

        from sgim_desktop.engine import api

        self.config = config
        if config.threads:
            torch.set_num_threads(config.threads)
        if config.fast_fraction is not None:
            from sgim_desktop.engine import speed

            speed.FAST_STEP_FRACTION = config.fast_fraction
            speed.FAST_BFLOAT16_STEP_FRACTION = config.fast_fraction
        self.torch = torch
        self.models = api.load_models(api.ModelFiles(Path(files[f"generator_{config.size}"]),
                                                     Path(files["audio_encoder"]), Path(files["clip"])),
                                      config.device)
        gen = torch.Generator().manual_seed(AUDIO_SEED)
        self.audio_input = torch.rand(1, 1, 128, 512, generator=gen)
        from sgim_desktop.engine.edit import sound_target

        self.target = sound_target(self.models.space, self.audio_input, label="bench sound")
        self.w0 = api.source_latent(self.models, api.Picture(seed=SOURCE_SEED))
        self._warm_up()
        self.run = None
        self.steps: Iterator | None = None
        self.times: list[float] = []
        self.first_preview_s: float | None = None
        self.finish_s = 0.0
        self.start_objective = self.objective(self.w0)

    def _warm_up(self) -> None:
        """What the app does before an edit: show the source picture (loads kernels, on CUDA too)."""
        from sgim_desktop.engine import api

        api.render(self.models, self.w0)
        self._sync()

    def _sync(self) -> None:
        if self.config.device == "cuda":
            self.torch.cuda.synchronize()
            self.torch.cuda.reset_peak_memory_stats()

    def start(self) -> None:
        from sgim_desktop.engine import api

        cfg = self.config
        if cfg.mode == "original":
            from sgim_desktop.bench.original_step import OriginalRun

            self.run = OriginalRun(self.models.generator, self.models.space, self.audio_input, self.w0, cfg.steps)
            self.steps = self.run.steps()
        else:
            self.run = api.start_edit(self.models, api.Picture(latent=self.w0), [self.target],
                                      api.EditPlan(steps=cfg.steps, speed=cfg.mode))
            self.steps = iter(self.run)

    def step(self) -> bool:
        """One step, timed on its own; False when the edit has ended (after its closing work, also timed)."""
        assert self.steps is not None
        started = time.perf_counter()
        try:
            report = next(self.steps)
        except StopIteration:
            self._sync_device()
            self.finish_s = time.perf_counter() - started
            return False
        self._sync_device()
        elapsed = time.perf_counter() - started
        if not self.times and report.preview is not None:
            self.first_preview_s = elapsed
        self.times.append(elapsed)
        return True

    def _sync_device(self) -> None:
        if self.config.device == "cuda":
            self.torch.cuda.synchronize()

    def finish(self) -> dict:
        """Measures peak memory, one full-size preview render, and the objective the edit reached."""
        assert self.steps is not None
        for _ in self.steps:
            pass
        latent = self.run.latent.detach() if self.config.mode == "original" else self.run.result.latent
        peak_gpu = (self.torch.cuda.max_memory_allocated() / 2**20) if self.config.device == "cuda" else None
        peak_rss = _peak_rss_mb()
        preview_s = self._preview_cost(latent)
        objective, loss = self.objective(latent)
        return self._report(objective, loss, preview_s, peak_rss, peak_gpu)

    def _preview_cost(self, latent) -> float:
        """Seconds of one preview where it is not the optimised image itself (original; fast with FAST_LOW_RESOLUTION)."""
        from sgim_desktop.engine import speed

        cfg = self.config
        torch = self.torch
        if cfg.mode == "exact" or (cfg.mode == "fast" and speed.optimisation_resolution(cfg.size, "fast") == cfg.size):
            return 0.0
        started = time.perf_counter()
        with torch.no_grad():
            w = latent.to(self.models.device)
            if cfg.mode == "original":
                from sgim_desktop.bench.original_step import synthesis_reference

                synthesis_reference(self.models.generator, w)
            else:
                self.models.generator.synthesis(w, precise=False)
        self._sync_device()
        return time.perf_counter() - started

    def objective(self, latent) -> tuple[float, float]:
        """CLIP loss (and with the latent-distance term, the loss) of a latent, computed the exact way."""
        torch = self.torch
        from sgim_desktop.engine.clip_space import normalize
        from sgim_desktop.engine.edit import COS_SCALE, clip_view

        with torch.no_grad():
            w = latent.to(self.models.device)
            img = self.models.generator.synthesis(w)
            fi = normalize(self.models.space.clip.encode_image(clip_view(img)).float())
            target = self.target.embedding.to(self.models.device)[None]
            cos = float(1 - (fi @ target.T)[0, 0] * COS_SCALE)
            sim = float(((w - self.w0) ** 2).sum())
        return cos, cos + 0.008 * sim

    def _report(self, objective: float, loss: float, preview_s: float, peak_rss: float, peak_gpu: float | None) -> dict:
        from sgim_desktop.bench.original_step import ORIGINAL_PREVIEW_EVERY
        from sgim_desktop.engine import speed

        cfg = self.config
        first = self.first_preview_s if self.first_preview_s is not None else float("nan")
        later = self.times[1:] or [float("nan")]
        median = statistics.median(later)
        conv_dtype = speed.fast_convolution_dtype(cfg.device, cfg.size) if cfg.mode == "fast" else None
        if cfg.mode == "fast":
            edit_steps, every = speed.fast_steps(DEFAULT_EDIT_STEPS, conv_dtype), DEFAULT_PREVIEW_EVERY
        else:
            edit_steps = DEFAULT_EDIT_STEPS
            every = ORIGINAL_PREVIEW_EVERY if cfg.mode == "original" else DEFAULT_PREVIEW_EVERY
        # The median leaves out the steps that also rendered a preview; they are added back here.
        previews = (edit_steps - 1) // every
        out = {
            "size": cfg.size,
            "device": cfg.device,
            "mode": cfg.mode,
            "steps": len(self.times),
            "steps_requested": cfg.steps,
            "step_s_median": round(median, 4),
            "step_s_min": round(min(later), 4),
            "step_s_max": round(max(later), 4),
            "first_preview_s": round(first, 4),
            "preview_s": round(preview_s, 4),
            "finish_s": round(self.finish_s, 4),
            "default_edit_steps": edit_steps,
            "default_edit_s": round(first + (edit_steps - 1) * median + previews * preview_s + self.finish_s, 2),
            "peak_rss_mb": round(peak_rss, 1),
            "peak_gpu_mb": None if peak_gpu is None else round(peak_gpu, 1),
            "objective": round(objective, 6),
            "objective_start": round(self.start_objective[0], 6),
            "loss": round(loss, 6),
            "threads": self.torch.get_num_threads(),
            "convolutions": str(conv_dtype or self.torch.float32).removeprefix("torch."),
        }
        if cfg.mode == "original":
            out["note"] = ORIGINAL_NOTE
        return out


def worker_main(config_json: str, files_json: str) -> int:
    """The worker process's loop: a line on stdin per command (start, step, finish), a JSON reply each."""
    config = BenchConfig(**json.loads(config_json))
    files = json.loads(files_json)
    worker = Worker(config, files)
    _reply({"ready": True})
    for line in sys.stdin:
        command = line.strip()
        if command == "start":
            worker.start()
            _reply({"started": True})
        elif command == "step":
            _reply({"stepped": worker.step()})
        elif command == "finish":
            _reply({"result": worker.finish()})
            return 0
    return 1


def _reply(obj: dict) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


# --- the parent: start the workers, interleave their steps, collect the results -----------------


def _worker_command(config: BenchConfig, files: dict[str, Path]) -> list[str]:
    args = ["bench", "--worker", json.dumps(asdict(config)), json.dumps({k: str(v) for k, v in files.items()})]
    if getattr(sys, "frozen", False):
        return [sys.executable, *args]
    return [sys.executable, "-m", "sgim_desktop", *args]


class _Child:
    def __init__(self, config: BenchConfig, files: dict[str, Path], log_dir: Path):
        self.config = config
        self.log = log_dir / f"{config.mode}-{config.size}-{config.device}.log"
        env = dict(os.environ)
        env.setdefault("PYTHONWARNINGS", "ignore")
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        self.proc = subprocess.Popen(_worker_command(config, files), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log.open("w"), text=True, env=env)
        self.running = True

    def ask(self, command: str | None) -> dict:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        if command is not None:
            self.proc.stdin.write(command + "\n")
            self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            tail = self.log.read_text(errors="replace")[-2000:]
            from sgim_desktop.errors import SgimError

            raise SgimError(f"the {self.config.mode} {self.config.size}px worker stopped (exit {self.proc.returncode}): "
                            + " | ".join(tail.strip().splitlines()[-3:]))
        return json.loads(line)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def run_bench(configs: Sequence[BenchConfig], weights_dir: Path | None = None, interleave: bool = True,
              on_result: Callable[[dict], None] | None = None) -> list[dict]:
    """Run every configuration and return one result dict each, in the order given."""
    with tempfile.TemporaryDirectory(prefix="sgim-bench-") as tmp:
        folder = Path(weights_dir) if weights_dir else Path(tmp) / "weights"
        files = weight_files(folder, sorted({c.size for c in configs}))
        log_dir = Path(tmp)
        groups = [list(configs)] if interleave else [[c] for c in configs]
        results: list[dict] = []
        for group in groups:
            children = [_Child(c, files, log_dir) for c in group]
            try:
                for child in children:
                    child.ask(None)
                for child in children:
                    child.ask("start")
                while any(child.running for child in children):
                    for child in children:
                        if child.running:
                            child.running = bool(child.ask("step")["stepped"])
                for child in children:
                    result = child.ask("finish")["result"]
                    result["timing"] = TIMING_NOTE if len(children) > 1 else "this configuration alone"
                    results.append(result)
                    if on_result is not None:
                        on_result(result)
            finally:
                for child in children:
                    child.close()
    return _compare(results)


def _compare(results: list[dict]) -> list[dict]:
    """Add each result's speed-up over the original and objective gap to exact, for the same size and device."""
    for r in results:
        peers = {p["mode"]: p for p in results if p["size"] == r["size"] and p["device"] == r["device"]}
        original, exact = peers.get("original"), peers.get("exact")
        if original is not None and r["mode"] != "original":
            r["step_speedup_vs_original"] = round(original["step_s_median"] / r["step_s_median"], 2)
            r["default_edit_speedup_vs_original"] = round(original["default_edit_s"] / r["default_edit_s"], 2)
            r["peak_rss_vs_original"] = round(r["peak_rss_mb"] / original["peak_rss_mb"], 3)
        if exact is not None and r["mode"] != "exact":
            r["objective_vs_exact"] = round((r["objective"] - exact["objective"]) / abs(exact["objective"]), 5)
    return results


def machine() -> dict:
    """Where the figures come from (they compare only within one machine and one run)."""
    import torch

    info = {"python": platform.python_version(), "torch": torch.__version__, "platform": platform.platform(),
            "cpu_count": os.cpu_count(), "cpu": platform.processor() or platform.machine()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info["cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info
