"""opml.kernels: loading a kernel with its params, inputs and output in place, and its code commitment."""

from __future__ import annotations

import pytest

from opml.kernels import RegionOverflowError, code_root, kernel_path, load_kernel
from opml.kernels.params import pack_matmul_params
from opml.vm import layout
from opml.vm.elf import load_elf
from opml.vm.memory import region_root_of_bytes
from opml.vm.state import Status


def test_load_kernel_places_every_region():
    params = pack_matmul_params(2, 3, 4, 1, 5)
    inputs = [bytes(range(6)), bytes(range(100, 112)), b"\x07" * 5]
    state = load_kernel("matmul_i8", params=params, inputs=inputs, output=b"\xff" * 8)
    assert state.status == Status.RUNNING and state.pc == layout.CODE.base
    assert state.memory.read_bytes(layout.PARAMS.base, len(params)) == params
    for region, data in zip(layout.INPUTS, inputs):
        assert state.memory.read_bytes(region.base, len(data)) == data
    assert state.memory.read_bytes(layout.OUTPUT.base, 8) == b"\xff" * 8
    assert state.memory.region_root(layout.INPUTS[3].base, layout.INPUTS[3].log2_size) == \
        region_root_of_bytes(b"", layout.INPUTS[3].log2_size)


def test_load_kernel_without_data_is_the_elf_alone():
    assert load_kernel("matmul_i8").encode() == load_elf(kernel_path("matmul_i8")).encode()


def test_load_kernel_rejects_what_does_not_fit():
    with pytest.raises(RegionOverflowError, match="params"):
        load_kernel("matmul_i8", params=bytes(layout.PARAMS.size + 1))
    with pytest.raises(RegionOverflowError, match="7 inputs"):
        load_kernel("matmul_i8", inputs=[b""] * 7)


def test_code_root_commits_to_the_code_region():
    state = load_kernel("matmul_i8", params=pack_matmul_params(1, 1, 1), inputs=[b"\x01", b"\x02"])
    assert code_root("matmul_i8") == state.memory.region_root(layout.CODE.base, layout.CODE.log2_size)
    elf = load_elf(kernel_path("matmul_i8"))
    code = elf.memory.read_bytes(layout.CODE.base, 4096)
    assert code_root("matmul_i8") == region_root_of_bytes(code, layout.CODE.log2_size)
