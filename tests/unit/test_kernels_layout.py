"""The C headers the kernels use agree with the Python memory map and params layout."""

from __future__ import annotations

import re

import pytest

from opml.kernels import KERNELS_DIR, params
from opml.vm import layout

INCLUDE = KERNELS_DIR / "include" / "opml"


def _defines(header: str) -> dict[str, str]:
    text = (INCLUDE / header).read_text()
    return dict(re.findall(r"^#define\s+(\w+)\s+(.+?)\s*(?:/\*.*)?$", text, flags=re.M))


def _c_int(literal: str) -> int:
    return int(literal.rstrip("uU"), 0)


def test_region_bases_match_layout():
    defines = _defines("regions.h")
    for name, region in (("CODE", layout.CODE), ("PARAMS", layout.PARAMS), ("OUTPUT", layout.OUTPUT),
                         ("SCRATCH", layout.SCRATCH), ("STACK", layout.STACK)):
        assert _c_int(defines[f"OPML_{name}_BASE"]) == region.base, name
    assert int(defines["OPML_INPUT_COUNT"]) == layout.INPUT_COUNT


@pytest.mark.parametrize("i", range(layout.INPUT_COUNT))
def test_input_bases_match_layout(i):
    text = (INCLUDE / "regions.h").read_text()
    macro = re.search(r"#define OPML_INPUT_BASE\(i\)\s+\((0x[0-9a-fA-F]+)u \* \(uint32_t\)\(\(i\) \+ 1\)\)", text)
    assert macro, "OPML_INPUT_BASE(i) is no longer (STRIDE * (i + 1)): update this test with the header"
    multiplier = int(macro.group(1), 16)
    assert multiplier * (i + 1) == layout.INPUTS[i].base


def test_exit_codes_match():
    defines = _defines("params.h")
    assert int(defines["OPML_EXIT_OK"]) == params.EXIT_OK
    assert int(defines["OPML_EXIT_BAD_TILE"]) == params.EXIT_BAD_TILE
    assert int(defines["OPML_EXIT_BAD_SHAPE"]) == params.EXIT_BAD_SHAPE


def test_pack_params_layout():
    data = params.pack_params(3, 10, (-1, 7))
    assert data == bytes.fromhex("03000000" "0a000000" "ffffffff" "07000000")
    assert params.pack_matmul_params(2, 3, 4) == params.pack_params(0, 8, (2, 3, 4))


def test_pack_params_rejects_words_out_of_range():
    with pytest.raises(params.ParamsError, match="word 2"):
        params.pack_params(0, 1, (1 << 32,))
