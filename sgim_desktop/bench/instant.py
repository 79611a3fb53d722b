"""``sgim-desktop bench --instant``: what instant edits and live mode cost, and how far they get against the
paper's optimisation on the same start latent and target, per generator size.

The weights are the rule weights of ``bench.runner`` (the cost does not depend on the values). For
each size, in one process, one after another: the directions build (default settings unless
overridden), target -> latent, target -> picture (the screen's render and the exact one), live mode
on a synthetic 44.1 kHz stream played in real time, the optimisation (``--opt-steps``, exact), the
CLIP cosines to the target (the loop's view of the picture) and the steps the paper's loop needs
from the instant latent to reach the optimisation's objective. The figures compare within one run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

INSTANT_NOTE = ("cos: the loop's CLIP view of the picture against the target; refine_steps_to_match: steps of the "
                "paper's loop from the instant latent until its objective is at or below the optimisation's")


def add_instant_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--instant", action="store_true",
                   help="measure instant edits and live mode instead (directions build, target to picture, live fps, "
                        "quality against the optimisation)")
    p.add_argument("--opt-steps", type=int, default=300, metavar="N",
                   help="with --instant: the optimisation compared with (default 300, the paper's)")
    p.add_argument("--live-seconds", type=float, default=10.0, metavar="SEC", help="with --instant: live mode's run")
    for flag, what in (("--basis", "latent atoms"), ("--probe-latents", "probe latents"),
                       ("--response-latents", "response latents"), ("--calibrate-latents", "calibration latents")):
        p.add_argument(flag, type=int, metavar="N", help=f"with --instant: the directions build's {what} (default: its own)")
    p.add_argument("--estimate-build", type=int, nargs="+", default=[], metavar="PX",
                   help="with --instant: for these sizes, time a build of one latent per stage and extrapolate the "
                        "whole build from its per-stage costs (reported as directions_build_s_estimated)")
    p.add_argument("--quality-sizes", type=int, nargs="*", metavar="PX",
                   help="with --instant: compare with the optimisation only at these sizes (default: every size; "
                        "none: nowhere)")


@dataclass
class InstantBenchConfig:
    size: int
    device: str
    opt_steps: int = 300
    live_seconds: float = 10.0
    overrides: dict = field(default_factory=dict)  # DirectionsSettings fields
    estimate_build: bool = False
    quality: bool = True


def run_instant_bench(args: argparse.Namespace) -> int:
    from sgim_desktop.bench.runner import machine, weight_files
    from sgim_desktop.engine.device import pick_device
    from sgim_desktop.errors import BadInputError

    if args.opt_steps < 2:
        raise BadInputError("--opt-steps must be at least 2")
    if not args.live_seconds > 0:
        raise BadInputError("--live-seconds must be above 0")
    for flag, sizes in (("--estimate-build", args.estimate_build), ("--quality-sizes", args.quality_sizes or [])):
        if not set(sizes) <= set(args.size):
            raise BadInputError(f"{flag} names a size that --size does not")
    overrides = {k: getattr(args, k) for k in ("basis", "probe_latents", "response_latents", "calibrate_latents")
                 if getattr(args, k) is not None}
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    info = machine()
    with tempfile.TemporaryDirectory(prefix="sgim-bench-instant-") as tmp:
        folder = Path(args.weights_dir) if args.weights_dir else Path(tmp)
        files = weight_files(folder, sorted(set(args.size)))
        for size in args.size:
            config = InstantBenchConfig(size, device, args.opt_steps, args.live_seconds, overrides,
                                        estimate_build=size in args.estimate_build,
                                        quality=args.quality_sizes is None or size in args.quality_sizes)
            result = bench_instant(config, files, Path(tmp))
            result["machine"] = info
            print(json.dumps(result) if args.json else _line(result), flush=True)
    return 0


def bench_instant(config: InstantBenchConfig, files: dict, scratch: Path) -> dict:
    import torch

    from sgim_desktop.bench.runner import AUDIO_SEED, SOURCE_SEED
    from sgim_desktop.engine import api, speed
    from sgim_desktop.engine.directions import DirectionsSettings, build_directions
    from sgim_desktop.engine.edit import sound_target

    generator = files[f"generator_{config.size}"]
    models = api.load_models(api.ModelFiles(generator=generator, audio_encoder=files["audio_encoder"],
                                            clip=files["clip"]), config.device)
    assert models.space is not None
    if config.device == "cpu":
        speed.keep_freed_memory()
    settings = replace(DirectionsSettings(), **config.overrides)
    if "basis" in config.overrides:
        settings = replace(settings, chunk=min(settings.chunk, settings.basis))
    conv_dtype = speed.fast_convolution_dtype(config.device, config.size)
    measured = replace(settings, probe_latents=1, response_latents=1, calibrate_latents=1) if config.estimate_build else settings
    started = time.perf_counter()
    build = build_directions(models, models.space.clip, generator, scratch / f"d{config.size}.safetensors",
                             measured, conv_dtype=conv_dtype)
    stage_s = _stage_seconds(build)
    assert build.result is not None
    directions = build.result.to(models.device)
    build_s = time.perf_counter() - started
    audio_input = torch.rand(1, 1, 128, 512, generator=torch.Generator().manual_seed(AUDIO_SEED))
    target = sound_target(models.space, audio_input, label="bench sound")
    w0 = api.source_latent(models, api.Picture(seed=SOURCE_SEED))
    out = {"size": config.size, "device": config.device, "mode": "instant",
           "directions_build_s": round(build_s, 1), "directions_settings": build.result.info["settings"],
           "directions_convolutions": str(conv_dtype or torch.float32).removeprefix("torch."),
           "directions_stage_s": {k: round(v, 1) for k, v in stage_s.items()}}
    if config.estimate_build:
        out["directions_build_s_estimated"] = round(_extrapolate(build_s, stage_s, measured, settings), 1)
        out["directions_build_note"] = ("directions_build_s is a build of one latent per stage; the estimate scales its "
                                        "per-stage seconds to the settings' latent counts (setup counted once)")
        out["directions_settings"] = asdict(settings)
    out.update(_speed(models, directions, w0, target))
    out.update(_live(models, directions, w0, config.live_seconds))
    if config.quality:
        out.update(_quality(models, directions, w0, target, config.opt_steps))
    out["note"] = INSTANT_NOTE
    return out


def _stage_seconds(build) -> dict[str, float]:
    """Runs the build to its end; the seconds its units took, per stage."""
    seconds: dict[str, float] = {}
    before = 0.0
    for step in build:
        seconds[step.stage] = seconds.get(step.stage, 0.0) + step.elapsed_s - before
        before = step.elapsed_s
    return seconds


def _extrapolate(wall_s: float, stage_s: dict[str, float], measured, settings) -> float:
    """The whole build's seconds from a sample build's: each stage scales with its latent count."""
    scale = {"probe": settings.probe_latents / measured.probe_latents,
             "response": settings.response_latents / measured.response_latents,
             "calibrate": settings.calibrate_latents / measured.calibrate_latents}
    setup = wall_s - sum(stage_s.values())
    return setup + sum(seconds * scale[stage] for stage, seconds in stage_s.items())


def _ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(1000 * (time.perf_counter() - started))
    return round(statistics.median(times), 3)


def _speed(models, directions, w0, target) -> dict:
    from sgim_desktop.engine.edit import render
    from sgim_desktop.engine.instant import instant_latent, quick_render

    def latent():
        return instant_latent(models, directions, w0, [target])

    quick_render(models, w0)  # the kernels are built once, before an edit (the source is on screen)
    render(models, w0)
    return {"target_to_direction_ms": _ms(latent, 50),
            "instant_edit_ms": _ms(lambda: quick_render(models, latent()), 3),
            "instant_edit_exact_ms": _ms(lambda: render(models, latent()), 3)}


def _live(models, directions, w0, seconds: float) -> dict:
    import numpy as np

    from sgim_desktop.engine.live import LiveEngine, LiveLoop, PacedStream, percentile

    rate = 44100
    rng = np.random.default_rng(0)
    t = np.arange(int((seconds + 1) * rate)) / rate
    samples = (0.3 * rng.standard_normal(len(t)) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * t))).astype(np.float32)
    engine = LiveEngine(models, directions, w0)
    engine.warm_up()
    stream = PacedStream(samples, rate)
    loop = LiveLoop(engine, stream.buffer)
    started = time.monotonic()
    stream.start()
    try:
        frames = loop.run(lambda frame: None, stop=lambda: time.monotonic() - started >= seconds)
    finally:
        stream.stop()
    elapsed = time.monotonic() - started
    return {"live_fps": round(frames / elapsed, 3), "live_update_ms_p50": percentile(loop.update_ms, 50),
            "live_update_ms_p95": percentile(loop.update_ms, 95), "live_preview_px": engine.preview,
            "live_interval_s": loop.interval}


def _quality(models, directions, w0, target, steps: int) -> dict:
    from sgim_desktop.engine.edit import COS_SCALE, EditRequest, start_edit
    from sgim_desktop.engine.instant import instant_latent, paper_objective, start_refine

    def cos(objective: tuple[float, float]) -> float:
        return (1 - objective[0]) / COS_SCALE

    request = EditRequest(targets=[target], latent=w0, steps=steps, preview_every=steps)
    started = time.perf_counter()
    optimised = start_edit(models, request).run_to_end()
    optimise_s = time.perf_counter() - started
    source, goal = paper_objective(models, w0, w0, [target]), paper_objective(models, optimised.latent, w0, [target])
    start = instant_latent(models, directions, w0, [target])
    instant = paper_objective(models, start, w0, [target])
    reached = 0 if instant[1] <= goal[1] else None
    if reached is None:
        refine = start_refine(models, request, start)
        for step in refine:
            if step.loss <= goal[1]:  # step i reports the loss after i updates
                reached = step.step
                break
        if reached is None and refine.result is not None:
            reached = steps if paper_objective(models, refine.result.latent, w0, [target])[1] <= goal[1] else None
    return {"opt_steps": steps, "optimise_s": round(optimise_s, 1),
            "cos_source": round(cos(source), 5), "cos_gain_instant": round(cos(instant) - cos(source), 5),
            "cos_gain_optimised": round(cos(goal) - cos(source), 5),
            "objective_source": round(source[1], 6), "objective_instant": round(instant[1], 6),
            "objective_optimised": round(goal[1], 6), "refine_steps_to_match": reached}


def _line(r: dict) -> str:
    built = (f"directions estimated at {r['directions_build_s_estimated']:.0f} s" if "directions_build_s_estimated" in r
             else f"directions built in {r['directions_build_s']:.0f} s")
    head = (f"{r['size']}px {r['device']} instant: {built}, "
            f"target to latent {r['target_to_direction_ms']:.2f} ms, to picture {r['instant_edit_ms']:.0f} ms "
            f"(exact {r['instant_edit_exact_ms']:.0f}), live {r['live_fps']:.2f} fps at {r['live_preview_px']} px "
            f"(update p50 {r['live_update_ms_p50']} ms)")
    if "cos_gain_instant" not in r:
        return head
    return (f"{head}; cos gain instant {r['cos_gain_instant']:+.4f} vs {r['opt_steps']}-step optimisation "
            f"{r['cos_gain_optimised']:+.4f}; refine from instant reaches it in {r['refine_steps_to_match']} steps")
