"""The demo commands: `opml demo` (the network: devnet + three daemons on MNIST), `opml demo --kernel` (one
matmul kernel disputed at the VM level, one process) and `opml dispute-demo` (one MNIST CNN dispute, honest party
against a liar of a chosen fault class). Each demo module is imported only when its command runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from opml.cliargs import integer
from opml.levels.scenarios import FAULT_KINDS

MAX_TRACE_DEPTH = 63  # DisputeGame refuses deeper levels (BadMaxDepth)
LIARS = ("submitter", "challenger")


def register(subparsers) -> None:  # noqa: ANN001
    parser = subparsers.add_parser(
        "demo", help="the opML network on a local devnet with real daemons on MNIST: an honest result finalized and "
                     "delivered, a faulty one disputed down to one MIPS step and slashed (--kernel: the "
                     "single-process matmul kernel dispute instead)")
    parser.add_argument("--kernel", action="store_true",
                        help="the single-process narrative of one matmul kernel disputed at the VM level")
    daemons = parser.add_argument_group("the daemon demo (default)")
    daemons.add_argument("--digits", type=int, nargs=3, metavar=("A", "B", "C"), default=(1401, 400, 800),
                         help="MNIST test images to request, by index (the faulty submitter answers the second)")
    daemons.add_argument("--json", type=Path, default=None, help="also write the summary to this JSON file")
    daemons.add_argument("--timeout", type=float, default=150.0, help="seconds each phase may take")
    daemons.add_argument("--explore", action="store_true",
                         help="keep the explorer (its URL is printed) and the devnet up afterwards, until Ctrl-C")
    kernel = parser.add_argument_group("the kernel demo (--kernel)")
    kernel.add_argument("--seed", type=int, default=None, help="random data and lie step (default: random)")
    kernel.add_argument("--shape", type=integer(1, 1 << 16), nargs=3, metavar=("M", "K", "N"), default=(4, 6, 3),
                        help="matmul shape: int8[M,K] x int8[K,N] -> int32[M,N] (default 4 6 3)")
    kernel.add_argument("--trace-depth", type=integer(1, MAX_TRACE_DEPTH), default=12,
                        help="VM traces have 2^DEPTH steps (must cover the run; default 12)")
    kernel.add_argument("--lie-at", type=integer(1), default=None,
                        help="the step at which the faulty submitter forges its output (default: random)")
    parser.set_defaults(func=cmd_demo)

    parser = subparsers.add_parser("dispute-demo", help="one MNIST CNN dispute on a fresh Anvil, honest party vs a "
                                                        "liar with a fault of the given class; prints a summary")
    parser.add_argument("--fault", choices=FAULT_KINDS, required=True, help="where the lie sits")
    parser.add_argument("--liar", choices=LIARS, default="submitter", help="which side lies")
    parser.add_argument("--seed", type=int, default=None, help="digit and fault position (default: random)")
    parser.set_defaults(func=cmd_dispute_demo)


def cmd_demo(args: argparse.Namespace) -> int:
    """Runs a demo; 0 when every outcome was the expected one (honest result final, the liar slashed)."""
    if args.kernel:
        from opml.demos.kernel import run_kernel_demo

        return run_kernel_demo(args.seed, tuple(args.shape), args.trace_depth, args.lie_at)
    from opml.demos.network import DemoOptions, run_demo

    return run_demo(DemoOptions(digits=tuple(args.digits), timeout_s=args.timeout, json_path=args.json,
                                explore=args.explore))


def cmd_dispute_demo(args: argparse.Namespace) -> int:
    from opml.demos.dispute import run_dispute_demo

    return run_dispute_demo(args.fault, args.liar, args.seed)
