"""`opml levels commit`: the registry roots of a model file as JSON on stdout, the anchor of an input; clear
errors for a missing file or an input of the wrong size."""

from __future__ import annotations

import argparse
import json

import numpy as np
from llm_small import TEXT, write_small_llama
from test_levels_commitments import tiny_cnn, tiny_image

from opml.levels import cli
from opml.levels.commitments import commit_model, tensor_commitment
from opml.levels.tiling import TilingPolicy
from opml.levels.llm_commitment import commit_llm, input_commitment
from opml.llm.generation import GenerationRequest
from opml.llm.importer import import_gguf
from opml.llm.llmfile import save as save_llm
from opml.ml import modelfile


def _run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    cli.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def test_commit_prints_the_roots_and_the_anchor(tmp_path, capsys) -> None:
    model = tiny_cnn()
    modelfile.save(model, tmp_path / "tiny.opml")
    np.save(tmp_path / "x.npy", tiny_image())
    assert _run(["levels", "commit", str(tmp_path / "tiny.opml"), "--max-tiles", "4",
                 "--input", str(tmp_path / "x.npy")]) == 0
    report = json.loads(capsys.readouterr().out)
    c = commit_model(model, TilingPolicy(max_tiles=4))
    assert [report[k] for k in ("graphRoot", "constantsRoot", "kernelSetRoot")] == ["0x" + r.hex() for r in c.roots]
    assert report["anchor"] == "0x" + c.anchor(tensor_commitment(tiny_image())).hex()
    assert [n["tiles"] for n in report["nodes"]] == [p.tile_count for p in c.plans]


def test_commit_reports_bad_arguments(tmp_path, capsys) -> None:
    assert _run(["levels", "commit", str(tmp_path / "missing.opml")]) == 1
    assert "missing.opml" in capsys.readouterr().err
    modelfile.save(tiny_cnn(), tmp_path / "tiny.opml")
    (tmp_path / "x.bin").write_bytes(b"\0" * 35)
    assert _run(["levels", "commit", str(tmp_path / "tiny.opml"), "--input", str(tmp_path / "x.bin")]) == 1
    assert "35 bytes" in capsys.readouterr().err


def test_commit_of_an_llm_prints_its_generation_roots(tmp_path, capsys) -> None:
    llm = import_gguf(write_small_llama(tmp_path, seed=3), TEXT)
    save_llm(llm, tmp_path / "small.opml")
    request = GenerationRequest((1, 5, 9), 4, 0, 7).encode()
    (tmp_path / "request.bin").write_bytes(request)
    capsys.readouterr()  # the import's logs
    assert _run(["levels", "commit", str(tmp_path / "small.opml"), "--input", str(tmp_path / "request.bin")]) == 0
    report = json.loads(capsys.readouterr().out)
    c = commit_llm(llm)
    assert [report[k] for k in ("graphRoot", "constantsRoot", "kernelSetRoot")] == ["0x" + r.hex() for r in c.roots]
    assert report["llmGraph"]["cacheSlots"] == list(c.cache_slots) and report["llmGraph"]["ctx"] == llm.config.ctx
    assert report["anchor"] == "0x" + c.anchor(input_commitment(request)).hex()
    (tmp_path / "bad.bin").write_bytes(request[:-4] + (llm.config.vocab).to_bytes(4, "little"))
    assert _run(["levels", "commit", str(tmp_path / "small.opml"), "--input", str(tmp_path / "bad.bin")]) == 1
    assert "bad.bin" in capsys.readouterr().err
