"""Merkle subtrees of big byte strings placed in a VM region, hashed once and cached.

A `RegionTree` describes `data` placed at the base of an aligned 2^log2_size-byte region (zero padded): the roots of
its 4 KiB pages (level 7 of the memory tree, docs/vm.md) and every node above them up to the region root. It is
what `Memory.map_region` needs to place the data without hashing it (the pages are read on first touch), and its
root is the data's region root (for a 2^28-byte region: the tensor commitment, docs/levels.md).

`region_tree(data, log2_size)` returns it through the process's `TreeCache`: in memory by content (sha256 of the
bytes; a numpy array seen before is found by identity without rehashing) and on disk as the page roots, in
`OPML_TREE_CACHE` or `.cache/trees` of the checkout (the nodes above the pages are rehashed from them: a few
thousand hashes for tens of MB). Only the first sight of some bytes on a machine costs the full tree, computed by
the compiled keccak of `opml.keccak_tree` on every core.
"""

from __future__ import annotations

import hashlib
import os
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import structlog

from opml.keccak_tree import ZERO, parent_level, tree_levels
from opml.paths import REPO_ROOT

log = structlog.get_logger(__name__)

PAGE_BYTES = 1 << 12
PAGE_LEVEL = 7  # a 4 KiB page is the subtree at level 7 (leaves are 32-byte chunks)
MEMORY_ENTRIES = 256  # trees kept in memory (the least recently used go first)
TREE_BYTES = 1 << 16  # from this size on data is worth a cached tree (and mapping instead of writing)
CACHE_ENV = "OPML_TREE_CACHE"


class RegionTreeError(ValueError):
    """Data that does not fit its region, or a region smaller than a page."""


@dataclass(frozen=True, eq=False)
class RegionTree:
    """levels[j] (uint8 [n_j, 32]) = the nodes at level PAGE_LEVEL + j that cover the data, j = 0 .. log2_size −
    12 (the last level holds the region root); `size` = the data's length in bytes."""

    log2_size: int
    size: int
    levels: tuple[np.ndarray, ...]

    @property
    def root(self) -> bytes:
        return self.levels[-1][0].tobytes()

    @property
    def page_count(self) -> int:
        return len(self.levels[0])


def _check(size: int, log2_size: int) -> None:
    if log2_size < PAGE_LEVEL + 5:
        raise RegionTreeError(f"a region tree needs a region of at least one page, got 2^{log2_size} bytes")
    if size > 1 << log2_size:
        raise RegionTreeError(f"{size} bytes do not fit a region of 2^{log2_size} bytes")


def _raw(data: bytes | bytearray | memoryview | np.ndarray) -> np.ndarray:
    if isinstance(data, np.ndarray):
        return np.ascontiguousarray(data).reshape(-1).view(np.uint8)
    return np.frombuffer(data, dtype=np.uint8)


def page_roots(data: bytes | bytearray | memoryview | np.ndarray) -> np.ndarray:
    """uint8 [pages, 32]: the level-7 root of each 4 KiB page of `data` (the last one zero padded)."""
    raw = _raw(data)
    if not len(raw):
        return np.frombuffer(ZERO[PAGE_LEVEL], dtype=np.uint8)[None, :].copy()
    padded = -len(raw) % PAGE_BYTES
    if padded:
        raw = np.concatenate((raw, np.zeros(padded, dtype=np.uint8)))
    return tree_levels(raw, PAGE_LEVEL)[PAGE_LEVEL]


def tree_from_page_roots(roots: np.ndarray, size: int, log2_size: int) -> RegionTree:
    """The RegionTree whose page roots are `roots`: the levels above them hashed up to the region root."""
    _check(size, log2_size)
    levels = [roots]
    for level in range(PAGE_LEVEL, log2_size - 5):
        levels.append(parent_level(levels[-1], level))
    return RegionTree(log2_size, size, tuple(levels))


def compute_region_tree(data: bytes | bytearray | memoryview | np.ndarray, log2_size: int) -> RegionTree:
    """The RegionTree of `data` at the base of a 2^log2_size-byte region, hashed now (no cache)."""
    raw = _raw(data)
    _check(len(raw), log2_size)
    return tree_from_page_roots(page_roots(raw), len(raw), log2_size)


def updated_tree(tree: RegionTree, data: bytes | bytearray | memoryview | np.ndarray, first: int,
                 end: int) -> RegionTree:
    """`tree` after the bytes [first, end) of its data changed: `data` (its length unchanged) holds them now;
    only the pages they touch and the nodes above those are rehashed."""
    raw = _raw(data)
    if len(raw) != tree.size or not 0 <= first <= end <= len(raw):
        raise RegionTreeError(f"bytes [{first}, {end}) of {len(raw)} do not update a tree of {tree.size} bytes")
    if first == end:
        return tree
    lo, hi = first // PAGE_BYTES, -(-end // PAGE_BYTES)
    levels = [level.copy() for level in tree.levels]
    levels[0][lo:hi] = page_roots(raw[lo * PAGE_BYTES: hi * PAGE_BYTES])
    for j in range(1, len(levels)):
        lo, hi = lo >> 1, ((hi - 1) >> 1) + 1
        below = levels[j - 1][2 * lo: 2 * hi]
        levels[j][lo:hi] = parent_level(below, PAGE_LEVEL + j - 1)
    return RegionTree(tree.log2_size, tree.size, tuple(levels))


def content_key(data: bytes | bytearray | memoryview | np.ndarray) -> str:
    """sha256 of the bytes and their length: what the cache files are named by."""
    raw = _raw(data)
    return f"{hashlib.sha256(raw).hexdigest()}-{len(raw)}"


class TreeCache:
    """Region trees by content: in memory (LRU) and, when `directory` is set, on disk as page roots."""

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._trees: OrderedDict[tuple[str, int], RegionTree] = OrderedDict()
        self._keys: dict[int, tuple[weakref.ref, str]] = {}  # id(array) → (the array, its content key)

    def _key(self, data: bytes | bytearray | memoryview | np.ndarray) -> str:
        if isinstance(data, np.ndarray):
            seen = self._keys.get(id(data))
            if seen is not None and seen[0]() is data:
                return seen[1]
            key = content_key(data)
            if data.flags.writeable:  # a writable array may change under the same identity: no identity memo
                return key
            self._keys[id(data)] = (weakref.ref(data, lambda _, i=id(data): self._keys.pop(i, None)), key)
            return key
        return content_key(data)

    def tree(self, data: bytes | bytearray | memoryview | np.ndarray, log2_size: int,
             persist: bool = False) -> RegionTree:
        """The RegionTree of `data` in a 2^log2_size region: from memory, from disk, or hashed (then kept in
        memory, and on disk with `persist`: for data seen again after a restart, such as model weights)."""
        key = (self._key(data), log2_size)
        tree = self._trees.get(key)
        if tree is None:
            tree = self._load(key[0], log2_size)
            if tree is None:
                tree = compute_region_tree(data, log2_size)
                if persist:
                    self._store(key[0], tree)
            self._trees[key] = tree
            while len(self._trees) > MEMORY_ENTRIES:
                self._trees.popitem(last=False)
        self._trees.move_to_end(key)
        return tree

    def _path(self, key: str) -> Path | None:
        return None if self.directory is None else self.directory / f"{key}.pages"

    def _load(self, key: str, log2_size: int) -> RegionTree | None:
        path = self._path(key)
        if path is None or not path.is_file():
            return None
        size = int(key.rsplit("-", 1)[1])
        roots = np.fromfile(path, dtype=np.uint8)
        pages = max(1, -(-size // PAGE_BYTES))
        if len(roots) != 32 * pages:
            log.warning("region_tree_cache_invalid", file=path.name, bytes=len(roots), expected=32 * pages)
            return None
        return tree_from_page_roots(roots.reshape(-1, 32), size, log2_size)

    def _store(self, key: str, tree: RegionTree) -> None:
        path = self._path(key)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(f".{os.getpid()}.partial")
            partial.write_bytes(tree.levels[0].tobytes())
            partial.replace(path)
            log.info("region_tree_cached", file=path.name, pages=tree.page_count)


def default_cache_dir() -> Path:
    return Path(os.environ.get(CACHE_ENV) or REPO_ROOT / ".cache" / "trees")


_CACHE: TreeCache | None = None


def shared_cache() -> TreeCache:
    """The process's TreeCache (directory: `default_cache_dir()` when first used)."""
    global _CACHE
    if _CACHE is None:
        _CACHE = TreeCache(default_cache_dir())
    return _CACHE


def region_tree(data: bytes | bytearray | memoryview | np.ndarray, log2_size: int,
                persist: bool = False) -> RegionTree:
    """The RegionTree of `data` at the base of a 2^log2_size-byte region, through the shared cache."""
    return shared_cache().tree(data, log2_size, persist)
