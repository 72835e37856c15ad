"""`opml vm ...` subcommands (placeholder until the VM lands)."""


def register(subparsers) -> None:
    parser = subparsers.add_parser("vm", help="run programs in the fraud-proof MIPS VM")
    parser.set_defaults(func=lambda args: parser.print_help())
