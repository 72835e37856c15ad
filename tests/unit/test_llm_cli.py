"""`opml model import X.gguf` and `opml generate`: the happy path, and bad input as one line with nothing
written. The CLI runs in-process through `opml.cli.main`."""

from __future__ import annotations

import gguf
import pytest
import structlog
from llm_models import write_tiny_llama

from opml.cli import main
from opml.llm.llmfile import load

SMALL = dict(dim=64, n_layers=1, n_heads=2, n_kv_heads=1, ffn=64, ctx=16)


def fails(argv, capsys) -> str:
    assert main([str(a) for a in argv]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    assert captured.out == ""  # nothing printed before the error (no partial output)
    return err[0]


@pytest.fixture(scope="module")
def gguf_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "tiny.gguf"
    write_tiny_llama(path, config=SMALL)
    return path


def test_import_then_generate(gguf_file, tmp_path, capsys):
    structlog.reset_defaults()  # as in a fresh `opml` process: no logging configured by an earlier test
    text = tmp_path / "calib.txt"
    text.write_text("the cat and the dog. " * 20)
    out = tmp_path / "tiny.opml"
    assert main(["model", "import", str(gguf_file), "-o", str(out), "--calibration", str(text)]) == 0
    assert "decode step of" in capsys.readouterr().out
    assert load(out).config.dim == 64
    assert main(["generate", str(out), "--prompt", " the", "--max-tokens", "4"]) == 0
    greedy = capsys.readouterr().out
    assert greedy.startswith(" the") and len(greedy) > len(" the\n")
    assert main(["generate", str(out), "--prompt", " the", "--max-tokens", "4", "--temperature", "0.8",
                 "--seed", "5"]) == 0
    first = capsys.readouterr().out
    assert main(["generate", str(out), "--prompt", " the", "--max-tokens", "4", "--temperature", "0.8",
                 "--seed", "5"]) == 0
    assert capsys.readouterr().out == first


def test_unsupported_architecture_writes_nothing(tmp_path, capsys):
    path = tmp_path / "mamba.gguf"
    write_tiny_llama(path, arch="mamba", config=SMALL)
    out = tmp_path / "x.opml"
    line = fails(["model", "import", path, "-o", out], capsys)
    assert line == "opml model import: architecture 'mamba' is not supported (only 'llama')"
    assert list(tmp_path.iterdir()) == [path]


def test_unsupported_tensor_type_and_truncated_file(tmp_path, capsys):
    path = tmp_path / "q5.gguf"
    write_tiny_llama(path, gguf.GGMLQuantizationType.Q5_1, config=SMALL)
    assert "has type Q5_1" in fails(["model", "import", path, "-o", tmp_path / "a.opml"], capsys)
    cut = tmp_path / "cut.gguf"
    write_tiny_llama(cut, config=SMALL)
    cut.write_bytes(cut.read_bytes()[:5000])
    assert "truncated or corrupt" in fails(["model", "import", cut, "-o", tmp_path / "b.opml"], capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.gguf", "q5.gguf"]


def test_generate_bad_input(gguf_file, tmp_path, capsys):
    out = tmp_path / "tiny.opml"
    assert main(["model", "import", str(gguf_file), "-o", str(out)]) == 0
    capsys.readouterr()
    line = fails(["generate", out, "--prompt", " the" * 40], capsys)
    assert "context holds 16" in line
    assert "not an opml LLM model file" in fails(["generate", gguf_file, "--prompt", "x"], capsys)
    assert "cannot read LLM model file" in fails(["generate", tmp_path / "absent.opml", "--prompt", "x"], capsys)


@pytest.mark.parametrize("flag, value, words", [("--temperature", "65536", "temperature must be 0 (greedy) … 65535.99"),
                                                ("--temperature", "-1", "not a finite number"),
                                                ("--seed", str(2**64), "does not fit 64 bits")])
def test_generate_refuses_what_the_sampling_input_cannot_carry(flag, value, words, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["generate", "absent.opml", "--prompt", "x", flag, value])
    assert exit_.value.code == 2
    captured = capsys.readouterr()
    assert words in captured.err and captured.out == ""
