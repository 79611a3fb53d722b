"""``sgim-desktop bench``: seconds per edit step, first preview, a default edit's total, peak memory and
the objective reached, per generator size, device and speed mode, on the real architectures."""

from __future__ import annotations

import argparse
import json
import sys

HELP = "measure the edit's speed and memory per generator size, device and speed mode"

SIZES = (64, 256, 512, 1024)
MODES = ("exact", "fast", "original")


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--size", type=int, nargs="+", choices=SIZES, default=[256], metavar="PX",
                   help="generator size(s): 256, 512 or 1024 (64 for quick checks); default 256")
    p.add_argument("--steps", type=int, default=10, metavar="N",
                   help="the edit's step count (fast mode runs its shorter schedule of it); default 10")
    p.add_argument("--original-steps", type=int, metavar="N",
                   help="step count for --mode original, which is slow (default: --steps)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--mode", nargs="+", choices=MODES, default=["exact", "fast"], metavar="MODE",
                   help="exact, fast, and/or original (our re-implementation of the original code's "
                        "computation, the baseline); default: exact fast")
    p.add_argument("--fast-fraction", type=float, metavar="F",
                   help="fast mode's share of the edit's steps, to weigh it against the objective (default 0.6)")
    p.add_argument("--threads", type=int, metavar="T", help="CPU threads per configuration (default: torch's)")
    p.add_argument("--sequential", action="store_true",
                   help="run the configurations one after another instead of one step each in turn")
    p.add_argument("--weights-dir", metavar="DIR", help="keep the rule-weight checkpoints here between runs")
    p.add_argument("--json", action="store_true", help="one JSON object per configuration")
    p.add_argument("--worker", nargs=2, metavar=("CONFIG", "FILES"), help=argparse.SUPPRESS)
    from sgim_desktop.bench.instant import add_instant_args

    add_instant_args(p)


def run(args: argparse.Namespace) -> int:
    if args.worker:
        from sgim_desktop.bench.runner import worker_main

        return worker_main(*args.worker)
    if args.instant:
        from sgim_desktop.bench.instant import run_instant_bench

        return run_instant_bench(args)
    from sgim_desktop.bench.runner import BenchConfig, machine, run_bench
    from sgim_desktop.commands.common import pick_device
    from sgim_desktop.errors import BadInputError

    if args.steps < 2 or (args.original_steps is not None and args.original_steps < 2):
        raise BadInputError("--steps must be at least 2 (the first step also renders the first preview)")
    if args.fast_fraction is not None and not 0 < args.fast_fraction <= 1:
        raise BadInputError("--fast-fraction must be above 0 and at most 1")
    device = pick_device(args.device)
    configs = [
        BenchConfig(size=size, device=device, mode=mode, threads=args.threads, fast_fraction=args.fast_fraction,
                    steps=(args.original_steps or args.steps) if mode == "original" else args.steps)
        for size in args.size for mode in args.mode
    ]
    info = machine()
    if not args.json:
        print(f"machine: {info['cpu']} ({info['cpu_count']} cores), torch {info['torch']}"
              + (f", {info['gpu']}" if "gpu" in info else ""), file=sys.stderr)
    results = run_bench(configs, weights_dir=args.weights_dir, interleave=not args.sequential)
    for r in results:
        r["machine"] = info
        if args.json:
            print(json.dumps(r), flush=True)
        else:
            print(_line(r), flush=True)
    return 0


def _line(r: dict) -> str:
    gpu = f", GPU peak {r['peak_gpu_mb']:.0f} MB" if r.get("peak_gpu_mb") is not None else ""
    extra = ""
    if "step_speedup_vs_original" in r:
        extra += f"; {r['step_speedup_vs_original']}x per step, {r['default_edit_speedup_vs_original']}x per edit vs original"
    if "objective_vs_exact" in r:
        extra += f"; objective {100 * r['objective_vs_exact']:+.2f}% vs exact"
    note = " (original = our re-implementation of its computation)" if r["mode"] == "original" else ""
    return (f"{r['size']}px {r['device']} {r['mode']}{note}: {r['step_s_median']:.3f} s/step "
            f"[{r['step_s_min']:.3f}-{r['step_s_max']:.3f}] over {r['steps']} steps, "
            f"first preview {r['first_preview_s']:.2f} s, "
            f"default edit ({r['default_edit_steps']} steps) ~{r['default_edit_s']:.0f} s, "
            f"RSS peak {r['peak_rss_mb']:.0f} MB{gpu}, "
            f"objective {r['objective']:.5f} (from {r['objective_start']:.5f}){extra}")
