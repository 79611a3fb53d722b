"""``sgim-desktop train-encoder``: train (or fine-tune) the audio encoder into CLIP's space.

One process: ``sgim-desktop train-encoder --folder sounds/ --out run/``. Several GPUs or machines:
``torchrun --nproc_per_node=4 -m sgim_desktop train-encoder ...`` (DDP; every process gets the same
flags, ``--out`` and the cache on a shared disk). Ctrl-C stops after the current step and leaves a
resume file; ``--resume`` continues from it.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

from sgim_desktop.commands.common import add_checkpoint_arg, checkpoint_path

HELP = "train or fine-tune the audio encoder into CLIP's space (contrastive, CLIP frozen)"


def configure(p: argparse.ArgumentParser) -> None:
    p.epilog = (
        "Defaults follow the paper where it says (Adam, lr 1e-3, batch 384, 50 epochs, learnable temperatures, "
        "CLIP frozen, SpecAugment, text augmentation); the warm-up and cosine schedule, loss weights, augmentation "
        "settings, validation split and batch-norm re-estimation are ours. OUT/run.json records each one."
    )
    data = p.add_argument_group("data")
    data.add_argument("--folder", type=Path, metavar="DIR", help="training clips as DIR/<label>/<clip>.wav")
    data.add_argument("--vggsound-csv", type=Path, metavar="CSV", help="VGGSound's vggsound.csv (ytid,start,label,split)")
    data.add_argument("--clips", type=Path, metavar="DIR", help="the folder of VGGSound clips (<ytid>_<start:06d>.wav, ...)")
    data.add_argument("--vggsound-split", default="train", choices=["train", "test", "all"])
    data.add_argument("--images", type=Path, metavar="DIR",
                      help="pictures for the audio-image term: DIR/<clip's name in the dataset>.jpg (e.g. a video frame)")
    data.add_argument("--val-fraction", type=float, default=0.05, help="share of each label held out for validation")
    data.add_argument("--cache-dir", type=Path, metavar="DIR", help="where encoder inputs are cached (default OUT/cache)")

    models = p.add_argument_group("models")
    add_checkpoint_arg(models, "--clip", "clip", "the frozen CLIP (ViT-B/32 openai state dict, or the weights of --clip-config)")
    models.add_argument("--clip-config", metavar="NAME|JSON",
                        help="another 512-d open_clip architecture: a model name or a JSON config (default: ViT-B/32)")
    models.add_argument("--init", metavar="PATH|ID", help="start from this audio encoder (fine-tuning) instead of random weights")

    loss = p.add_argument_group("loss")
    loss.add_argument("--text-weight", type=float, default=1.0)
    loss.add_argument("--audio-weight", type=float, default=1.0, help="the audio-audio (SpecAugment) term; 0 turns it off")
    loss.add_argument("--image-weight", type=float, default=1.0, help="the audio-image term (needs --images)")
    loss.add_argument("--text-augment", default="full", choices=["full", "templates", "none"])

    opt = p.add_argument_group("optimiser (paper: Adam, lr 1e-3, batch 384, 50 epochs)")
    opt.add_argument("--epochs", type=int, default=None, help="default 50 (resuming: the run's own)")
    opt.add_argument("--batch-size", type=int, default=384, help="global batch, over all processes")
    opt.add_argument("--lr", type=float, default=1e-3)
    opt.add_argument("--weight-decay", type=float, default=0.0)
    opt.add_argument("--warmup-steps", type=int, default=-1, help="default: 5%% of the steps, at most 1000")
    opt.add_argument("--schedule", default="cosine", choices=["cosine", "constant"])
    opt.add_argument("--seed", type=int, default=0)

    run = p.add_argument_group("run")
    run.add_argument("--out", type=Path, required=True, metavar="DIR", help="checkpoints, curves and logs go here")
    run.add_argument("--resume", action="store_true", help="continue the run in --out from its resume.pt")
    run.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    run.add_argument("--amp", default="auto", choices=["auto", "on", "off"], help="mixed precision (auto: on CUDA)")
    run.add_argument("--workers", type=int, default=2, help="data-loading processes")
    run.add_argument("--save-every", type=int, default=0, metavar="STEPS", help="also save resume.pt every STEPS steps")
    run.add_argument("--log-every", type=int, default=10, metavar="STEPS")
    run.add_argument("--eval-batch", type=int, default=64)
    run.add_argument("--bn-batches", type=int, default=50,
                     help="re-estimate batch-norm statistics on this many training batches at each epoch's end (0: off)")
    run.add_argument("--dist-backend", default="auto", choices=["auto", "nccl", "gloo"])
    run.add_argument("--input-pool", type=int, default=1, help=argparse.SUPPRESS)  # tests only: shrinks the input


def _is_main() -> bool:
    import os

    return os.environ.get("RANK", "0") == "0"


def _printer():
    from sgim_desktop.commands.common import TerminalProgress

    bar = TerminalProgress("preparing clips")

    def show(p) -> None:
        if p.phase == "prepare":
            bar(SimpleNamespace(step=p.done, total=p.total))
        elif p.phase == "clip":
            print(p.message, file=sys.stderr, flush=True)
        elif p.phase == "train":
            terms = " ".join(f"{k} {v:.3f}" for k, v in p.terms.items())
            eta = f" eta {_duration(p.eta_s)}" if p.eta_s is not None else ""
            print(f"epoch {p.epoch}/{p.epochs} step {p.step}/{p.total_steps} loss {p.loss:.4f} ({terms}) "
                  f"lr {p.lr:.2e} {p.clips_per_s:.1f} clips/s{eta}", file=sys.stderr, flush=True)
        elif p.phase == "epoch":
            print(p.message, file=sys.stderr, flush=True)

    return show


def _duration(s: float) -> str:
    s = int(s)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def run(args: argparse.Namespace) -> int:
    from sgim_desktop.errors import BadInputError
    from sgim_desktop.training.train import TrainConfig, train

    if args.clip_config and not args.clip and not args.resume:
        raise BadInputError("--clip-config needs --clip FILE, the weights of that architecture")
    if args.resume and args.clip is None:
        clip = None  # the run's own
    elif args.clip_config:
        clip = Path(args.clip)
    else:
        clip = checkpoint_path(args.clip, "clip")
    init = checkpoint_path(args.init, "audio_encoder") if args.init and not args.resume else None
    cfg = TrainConfig(
        out=args.out, clip=clip, folder=args.folder, vggsound_csv=args.vggsound_csv, clips=args.clips,
        vggsound_split=args.vggsound_split, images=args.images, val_fraction=args.val_fraction,
        clip_config=args.clip_config, init=init, text_weight=args.text_weight, audio_weight=args.audio_weight,
        image_weight=args.image_weight, text_augment=args.text_augment, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay, warmup_steps=args.warmup_steps,
        schedule=args.schedule, seed=args.seed, device=args.device, amp=args.amp, workers=args.workers,
        cache_dir=args.cache_dir, save_every=args.save_every, log_every=args.log_every, eval_batch=args.eval_batch,
        bn_batches=args.bn_batches, dist_backend=args.dist_backend, input_pool=args.input_pool, resume=args.resume,
    )
    cancel = threading.Event()
    previous = signal.getsignal(signal.SIGINT)

    def on_interrupt(signum, frame) -> None:
        if cancel.is_set():
            raise KeyboardInterrupt
        cancel.set()
        if _is_main():
            print("\nstopping after this step (Ctrl-C again to abort without saving)", file=sys.stderr, flush=True)

    signal.signal(signal.SIGINT, on_interrupt)
    try:
        result = train(cfg, progress=_printer() if _is_main() else None, cancel=cancel)
    finally:
        signal.signal(signal.SIGINT, previous)
    if not _is_main():
        return 0
    if result.cancelled:
        where = f"; continue with --resume (state in {result.resume_file})" if result.resume_file else ""
        print(f"stopped at step {result.step}{where}", file=sys.stderr)
        return 130
    losses = f"; loss {result.first_loss:.4f} -> {result.last_loss:.4f}" if result.last_loss is not None else ""
    print(f"trained {result.epochs_done} epochs ({result.step} steps) on {result.world_size} process(es){losses}")
    print(f"encoder: {result.encoder_best} (best validation), {result.encoder_last} (last)")
    print(f"curves: {Path(result.out) / 'loss.png'}, {Path(result.out) / 'progress.csv'}, {Path(result.out) / 'epochs.csv'}")
    print(f"use it: sgim-desktop models import audio-encoder-resnet18 {result.encoder_best}  (or pass --audio-encoder PATH)")
    return 0
