"""The `opml` command. Each area registers its subcommands from its own module."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys

from opml.progress import bars

# Long-running services keep structured logs; every other command draws progress bars on a terminal.
_SERVICES = ("submitter", "challenger", "explorer")

# (subcommand, module): the module defines `register(subparsers)`; its parser sets `func(args) -> int`.
_COMMAND_MODULES = (
    "opml.vm.cli",
    "opml.ml.cli",
    "opml.llm.cli",
    "opml.demos.cli",
    "opml.levels.cli",
    "opml.node.cli",
    "opml.explorer.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="opml", description="optimistic machine learning node and tools")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one subcommand; its exit status. Bad arguments exit 2 through argparse (usage + one error line); each
    command turns its own bad input into one line on stderr. The last net here does the same for a file or
    socket error no command anticipated (exit 2), and a closed stdout (`opml ... | head`) ends quietly."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        with contextlib.nullcontext() if args.command in _SERVICES else bars():
            return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        _silence_stdout()
        return 141
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"opml {args.command}: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2


def _silence_stdout() -> None:
    """After the reader of stdout went away, point stdout at /dev/null so the interpreter's final flush is quiet."""
    try:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives until exit
    except OSError:
        pass


if __name__ == "__main__":
    sys.exit(main())
