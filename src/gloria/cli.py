"""The `gloria` command line.

Each concern registers its own sub-commands in a small `cli.py` next to its code (`register(sub)`), so
this file only lists them. Heavy imports (torch, diffusers) happen inside the command handlers, so
`gloria --help` is instant.
"""
from __future__ import annotations

import argparse
import importlib
import sys

# Modules that expose `register(subparsers) -> None`. Each adds its commands with
# `set_defaults(func=handler)`; a handler takes the parsed args and returns an exit code (or None).
COMMAND_MODULES = [
    "gloria.pipelines.cli",  # gloria generate
    "gloria.models.cli",  # gloria info, gloria convert
    "gloria.synthetic.demo_run",  # gloria demo
    "gloria.synthetic.cli",  # gloria synthetic render|dataset
    "gloria.evaluation.cli",  # gloria eval
    "gloria.evaluation.analyze",  # gloria analyze attention
    "gloria.data.cli",  # gloria data build, gloria anchors extract
    "gloria.training.cli",  # gloria train, gloria cache
]


class UserError(Exception):
    """An error caused by the user's input: printed as one clear line, exit code 2, no traceback."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gloria", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        code = args.func(args)
    except (UserError, ValueError, FileNotFoundError) as err:
        print(f"gloria {args.command}: error: {err}", file=sys.stderr)
        return 2
    return int(code or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
