"""The demo commands: `opml demo` (the network: devnet + three daemons on MNIST), `opml demo --llm` (the same
network continuing stories with the Moby-Dick llama), `opml demo --kernel` (one matmul kernel disputed at the VM
level, one process) and `opml dispute-demo` (one MNIST CNN dispute, honest party
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
    parser.add_argument("--llm", action="store_true",
                        help="the daemons on the LLM stack: the Moby-Dick llama continues two prompts, one token "
                             "of the faulty submitter's continuation disputed down to one MIPS step")
    daemons = parser.add_argument_group("the daemon demo (default)")
    daemons.add_argument("--digits", type=int, nargs=3, metavar=("A", "B", "C"), default=(1401, 400, 800),
                         help="MNIST test images to request, by index (the faulty submitter answers the second)")
    daemons.add_argument("--json", type=Path, default=None, help="also write the summary to this JSON file")
    daemons.add_argument("--timeout", type=float, default=None,
                         help="seconds each phase may take (default 150; 300 with --llm)")
    daemons.add_argument("--explore", action="store_true",
                         help="keep the explorer (its URL is printed) and the devnet up afterwards, until Ctrl-C")
    llm = parser.add_argument_group("the LLM demo (--llm)")
    llm.add_argument("--prompts", nargs=2, metavar=("A", "B"), default=("Call me Ishmael.", "The white whale"),
                     help="the two prompts to continue (the faulty submitter answers the second)")
    llm.add_argument("--max-tokens", type=integer(2, 64), default=16, help="tokens generated per prompt (default 16)")
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

    common = {"json_path": args.json, "explore": args.explore, **({"timeout_s": args.timeout} if args.timeout else {})}
    if args.llm:
        from opml.demos.llm import LlmDemo, LlmDemoOptions

        return run_demo(LlmDemoOptions(prompts=tuple(args.prompts), max_tokens=args.max_tokens, **common), LlmDemo)
    return run_demo(DemoOptions(digits=tuple(args.digits), **common))


def cmd_dispute_demo(args: argparse.Namespace) -> int:
    from opml.demos.dispute import run_dispute_demo

    return run_dispute_demo(args.fault, args.liar, args.seed)
