"""`opml vm run PROGRAM.elf [--max-steps N] [--fast]`: run a program in the VM and print how it ended."""

from __future__ import annotations

import argparse
import importlib
import sys
import time

from opml.cliargs import integer
from opml.vm.elf import ElfError, load_elf
from opml.vm.state import Fault, Status, VMState


def register(subparsers) -> None:
    parser = subparsers.add_parser("vm", help="run programs in the fraud-proof MIPS VM")
    commands = parser.add_subparsers(dest="vm_command", required=True)
    run = commands.add_parser("run", help="run an ELF program until it exits or faults")
    run.add_argument("program", help="ELF32 little-endian MIPS executable")
    run.add_argument("--max-steps", type=integer(0, base=0, below="is negative"), default=None, help="stop after this many steps")
    run.add_argument("--fast", action="store_true", help="use the fast executor (opml.vm.fast) if available")
    run.set_defaults(func=run_command)


def run_command(args: argparse.Namespace) -> int:
    """Load, run, print status / exit code / steps / state hash; 2 on a bad program file."""
    try:
        state = load_elf(args.program)
    except ElfError as exc:
        print(f"opml vm run: {exc}", file=sys.stderr)
        return 2
    executor = _executor(args.fast)
    started = time.perf_counter()
    steps = executor(state, args.max_steps)
    elapsed = time.perf_counter() - started
    _report(state, steps, elapsed)
    return 0


def _executor(fast: bool):
    """`run(state, max_steps) -> steps` of the requested executor (the reference one if fast is missing)."""
    if fast:
        try:
            fast_module = importlib.import_module("opml.vm.fast")
            return getattr(fast_module, "run_fast", None) or fast_module.run
        except (ImportError, AttributeError) as exc:
            print(f"opml vm run: fast executor unavailable ({exc}); using the reference interpreter",
                  file=sys.stderr)
    from opml.vm.interp import run

    return run


def _report(state: VMState, steps: int, elapsed: float) -> None:
    status = state.status.name.lower()
    if state.status == Status.FAULTED:
        code = f"{state.exit_code} ({Fault(state.exit_code).name})"
    else:
        code = str(state.exit_code)
    print(f"status: {status}")
    print(f"exit code: {code}")
    print(f"steps: {state.step}")
    print(f"pc: {state.pc:#010x}")
    print(f"state hash: 0x{state.hash().hex()}")
    rate = f" ({steps / elapsed / 1e6:.2f} M steps/s)" if elapsed > 0 and steps else ""
    print(f"time: {elapsed:.3f} s{rate}", file=sys.stderr)
