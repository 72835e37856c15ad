"""The `opml` command. Each area registers its subcommands from its own module."""

from __future__ import annotations

import argparse
import importlib
import sys

# (subcommand, module): the module defines `register(subparsers)`; its parser sets `func(args) -> int`.
_COMMAND_MODULES = (
    "opml.vm.cli",
    "opml.ml.cli",
    "opml.demo",
    "opml.levels.cli",
    "opml.levels.dispute_demo",
    "opml.node.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="opml", description="optimistic machine learning node and tools")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
