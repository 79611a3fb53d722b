"""The one entry point: no arguments (or only files) opens the window; a subcommand runs headless.

Each subcommand lives in ``sgim_desktop/commands/<name>.py`` with ``HELP``, ``configure(parser)``
and ``run(args) -> int``; heavy imports stay inside ``run`` so ``--help`` is instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from sgim_desktop import logs
from sgim_desktop.errors import SgimError, is_out_of_memory, out_of_memory_message

# subcommand name -> module under sgim_desktop.commands
COMMANDS: dict[str, str] = {
    "hear": "hear",
    "edit": "edit",
    "render": "render",
    "models": "models",
    "bench": "bench",
    "invert": "invert",
    "train-encoder": "train_encoder",
    "evaluate-encoder": "evaluate_encoder",
    "directions": "directions",
    "live": "live",
}


def _available() -> dict[str, object]:
    found = {}
    for name, module in COMMANDS.items():
        try:
            found[name] = importlib.import_module(f"sgim_desktop.commands.{module}")
        except ModuleNotFoundError as exc:
            if exc.name != f"sgim_desktop.commands.{module}":
                raise
    return found


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sgim-desktop",
        description="Edit pictures with sound. With no subcommand, opens the window (files given open in it).",
    )
    parser.add_argument("--self-test", action="store_true", help="check every native part and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in _available().items():
        p = sub.add_parser(name, help=module.HELP, description=module.HELP)
        module.configure(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    if argv is None:  # the process's own entry (not a call from a test or a script): log to the log file
        logs.setup()
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv == ["--self-test"] or (argv and argv[0] == "--self-test"):
        from sgim_desktop.self_test import run_self_test

        return run_self_test()
    if not argv or (argv[0] not in COMMANDS and not argv[0].startswith("-")):
        from sgim_desktop import startup_probe
        from sgim_desktop.ui.app import run_app

        startup_probe.arm(argv)
        return run_app(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "_run", None) is None:
        parser.print_help()
        return 0
    try:
        return int(args._run(args) or 0)
    except SgimError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cancelled", file=sys.stderr)
        return 130
    except (MemoryError, RuntimeError) as exc:
        if not is_out_of_memory(exc):
            raise
        print(f"error: {out_of_memory_message(exc, f'running {args.command}')}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
