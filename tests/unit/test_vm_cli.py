"""`opml vm run`: what it prints for a program, a step limit, the fast flag, and bad files."""

from __future__ import annotations

import struct
import subprocess
import sys

import pytest

from opml.cli import main
from opml.vm import interp
from opml.vm.elf import load_elf
from vm_programs import programs  # noqa: F401 - fixture


def parse(out: str) -> dict[str, str]:
    return dict(line.split(": ", 1) for line in out.strip().splitlines())


def test_run_prints_status_code_steps_and_hash(programs, capsys):
    path = programs["recurse"]  # with zeroed params: n = 0, fib(0) = 0
    assert main(["vm", "run", str(path)]) == 0
    fields = parse(capsys.readouterr().out)
    expected = load_elf(path)
    steps = interp.run(expected)
    assert fields["status"] == "exited"
    assert fields["exit code"] == str(expected.exit_code)
    assert fields["steps"] == str(steps)
    assert fields["state hash"] == "0x" + expected.hash().hex()


def test_max_steps_stops_a_running_program(programs, capsys):
    assert main(["vm", "run", str(programs["recurse"]), "--max-steps", "7"]) == 0
    fields = parse(capsys.readouterr().out)
    expected = load_elf(programs["recurse"])
    interp.run(expected, 7)
    assert (fields["status"], fields["steps"]) == ("running", "7")
    assert fields["state hash"] == "0x" + expected.hash().hex()


def test_fast_flag_gives_the_same_result(programs, capsys):
    assert main(["vm", "run", str(programs["divmod"]), "--max-steps", "0x20"]) == 0
    reference = capsys.readouterr().out
    assert main(["vm", "run", str(programs["divmod"]), "--max-steps", "0x20", "--fast"]) == 0
    captured = capsys.readouterr()
    assert captured.out == reference  # from opml.vm.fast, or the reference interpreter with a note on stderr


def test_faulting_program_names_the_fault(tmp_path, capsys):
    from test_vm_elf import make_elf

    path = tmp_path / "bad.elf"
    path.write_bytes(make_elf([(0x0010_0000, struct.pack("<I", 0xFC00_0000), 4)]))
    assert main(["vm", "run", str(path)]) == 0
    fields = parse(capsys.readouterr().out)
    assert fields["status"] == "faulted" and fields["exit code"] == "1 (INVALID_INSTRUCTION)"
    assert fields["steps"] == "1"


@pytest.mark.parametrize("content", [b"hello", None])
def test_bad_file_is_one_line_and_nonzero(tmp_path, capsys, content):
    path = tmp_path / "prog.elf"
    if content is not None:
        path.write_bytes(content)
    assert main(["vm", "run", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("opml vm run: ")
    assert ("not a MIPS32 little-endian executable" if content else "cannot read") in err


def test_console_entry_point(programs):
    result = subprocess.run([sys.executable, "-m", "opml.cli", "vm", "run", str(programs["loop"])],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert parse(result.stdout)["status"] == "exited"
