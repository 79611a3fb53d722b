"""``sgim-desktop live``: live mode headless. The picture follows a microphone, or a file played in real time
as if it were one; every preview is written as a PNG, the full-size picture at the end."""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path

from sgim_desktop.commands.common import add_checkpoint_arg, checkpoint_path, pick_device

HELP = "make a generated picture follow a sound stream live (a microphone, or a file played in real time)"


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("--input", required=True, metavar="FILE|mic", help="a sound file played in real time, or 'mic'")
    p.add_argument("--mic-device", metavar="NAME|INDEX", help="with --input mic: the input device (default: the system's)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--seed", type=int, default=0, metavar="N")
    src.add_argument("--latent", metavar="FILE.pt")
    p.add_argument("--truncation", type=float, default=0.7, metavar="T")
    add_checkpoint_arg(p, "--generator", "generator", "StyleGAN2 generator (rosinality .pt)")
    add_checkpoint_arg(p, "--audio-encoder", "audio_encoder", "audio encoder (resnet18_57.pth layout)")
    add_checkpoint_arg(p, "--clip", "clip", "CLIP ViT-B/32 openai state dict")
    p.add_argument("--directions", metavar="FILE", help="the generator's directions (default: beside the generator)")
    p.add_argument("--strength", type=float, default=1.0, metavar="A")
    p.add_argument("--channels", type=int, metavar="K", help="move only the K largest latent channels (default: all)")
    p.add_argument("--follow-loudness", action="store_true", help="the strength follows how loud the sound is")
    p.add_argument("--text", metavar="TEXT", help="a text mixed into every frame's target")
    p.add_argument("--text-weight", type=float, default=1.0, metavar="W")
    p.add_argument("--interval", type=float, default=0.25, metavar="SEC", help="re-encode at most this often (<= 0.5)")
    p.add_argument("--preview", type=int, default=128, metavar="PX", help="preview size (the generator stops there)")
    p.add_argument("--duration", type=float, metavar="SEC", help="seconds to run (default: the file's length)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--out-dir", required=True, metavar="DIR")
    p.add_argument("--json", action="store_true", help="print the summary as one JSON line")


def _mic_stream(device: str | None):
    """A recording that keeps no sound and fills a ring buffer as its blocks arrive (PortAudio's thread)."""
    from sgim_desktop.audio_io import Recorder
    from sgim_desktop.engine.live import RingBuffer

    rings: list[RingBuffer] = []  # made once the stream's rate is known; a block before that is dropped

    def push(block, _rate) -> None:
        if rings:
            rings[0].push(block)

    recorder = Recorder(max_seconds=24 * 3600, on_block=push, keep=False)
    recorder.start(int(device) if device and device.isdigit() else device)
    rings.append(RingBuffer(recorder.samplerate))
    return recorder, rings[0]


def run(args: argparse.Namespace) -> int:
    from sgim_desktop.commands.edit_instant import load_directions_for
    from sgim_desktop.engine import api
    from sgim_desktop.engine.export import write_image
    from sgim_desktop.engine.instant import InstantParams
    from sgim_desktop.engine.live import LiveEngine, LiveLoop, PacedStream, percentile
    from sgim_desktop.errors import BadInputError

    out_dir = Path(args.out_dir)
    if args.duration is not None and not args.duration > 0:
        raise BadInputError("--duration must be above 0 seconds")
    if not 0 < args.interval <= 0.5:
        raise BadInputError("--interval must be above 0 and at most 0.5 s (live mode re-encodes at least twice a second)")
    if args.input == "mic" and args.duration is None:
        raise BadInputError("live from the microphone needs --duration")
    sound = api.open_sound(args.input).sound if args.input != "mic" else None
    picture = api.Picture(seed=args.seed, truncation=args.truncation,
                          latent=api.load_latent(args.latent) if args.latent else None)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BadInputError(f"cannot create {out_dir}: {exc.strerror or exc}") from None
    device = pick_device(args.device)
    generator_file = checkpoint_path(args.generator, "generator")
    models = api.load_models(api.ModelFiles(generator=generator_file,
                                            audio_encoder=checkpoint_path(args.audio_encoder, "audio_encoder"),
                                            clip=checkpoint_path(args.clip, "clip")), device)
    directions = load_directions_for(models, generator_file, args.directions)
    source = api.source_latent(models, picture)
    extra = api.build_targets(models, [], args.text or "", args.text_weight)
    engine = LiveEngine(models, directions, source, InstantParams(strength=args.strength, channels=args.channels),
                        extra_targets=extra, preview=args.preview, follow_loudness=args.follow_loudness)
    engine.warm_up()
    if sound is not None:
        stream = PacedStream(sound.samples, sound.sample_rate)
        buffer, finished = stream.buffer, stream.finished
        duration = args.duration if args.duration is not None else sound.duration_s
        stream.start()
    else:
        recorder, buffer = _mic_stream(args.mic_device)
        finished, duration = threading.Event(), args.duration
    loop = LiveLoop(engine, buffer, interval=args.interval)
    started = time.monotonic()

    def write(frame) -> None:
        write_image(frame.image, out_dir / f"frame_{frame.index:05d}.png")

    try:
        frames = loop.run(write, stop=lambda: finished.is_set() or time.monotonic() - started >= duration)
    finally:
        if sound is not None:
            stream.stop()
        else:
            recorder.cancel()
    seconds = time.monotonic() - started
    final = write_image(engine.full_image(), out_dir / "final.png")
    summary = {
        "frames": frames, "fps": round(frames / seconds, 3) if seconds > 0 else 0.0,
        "update_ms_p50": percentile(loop.update_ms, 50), "update_ms_p95": percentile(loop.update_ms, 95),
        "preview_px": engine.preview, "seconds": round(seconds, 2), "skipped_intervals": loop.skipped_intervals,
        "final": str(final),
    }
    if args.json:
        print(json.dumps(summary), flush=True)
    elif sys.stdout is not None:
        print(f"{frames} frames in {seconds:.1f} s ({summary['fps']} fps, update p50 {summary['update_ms_p50']} ms, "
              f"p95 {summary['update_ms_p95']} ms) in {out_dir}")
    return 0
