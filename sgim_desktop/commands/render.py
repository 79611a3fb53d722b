"""``sgim-desktop render``: draw a latent or a seed without editing."""

from __future__ import annotations

import argparse
import sys

from sgim_desktop.commands.common import add_checkpoint_arg, checkpoint_path, pick_device

HELP = "render a W+ latent file or a seed with a generator"


def configure(p: argparse.ArgumentParser) -> None:
    add_checkpoint_arg(p, "--generator", "generator", "StyleGAN2 generator (rosinality .pt)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--latent", metavar="FILE.pt", help="a 1 x n_latent x 512 tensor saved with torch.save")
    src.add_argument("--seed", type=int, metavar="N")
    p.add_argument("--truncation", type=float, default=0.7, metavar="T")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--out", required=True, metavar="FILE.png|.jpg", help="the picture: PNG or JPEG by its ending")
    p.add_argument("--save-latent", metavar="FILE.pt")


def run(args: argparse.Namespace) -> int:
    from sgim_desktop.engine import api
    from sgim_desktop.engine.export import check_folder, check_image_path, write_image, write_latent

    check_image_path(args.out)
    if args.save_latent:
        check_folder(args.save_latent)
    latent = api.load_latent(args.latent) if args.latent else None
    models = api.load_models(api.ModelFiles(checkpoint_path(args.generator, "generator")), pick_device(args.device))
    w = api.source_latent(models, api.Picture(seed=args.seed, truncation=args.truncation, latent=latent))
    written = [write_image(api.render(models, w), args.out)]
    if args.save_latent:
        written.append(write_latent(w, args.save_latent))
    if sys.stdout is not None:
        print("wrote " + " and ".join(str(path) for path in written))
    return 0
