"""Errors of the integer ML runtime. Every message names the op, node or tensor at fault."""

from __future__ import annotations


class MLError(Exception):
    """Base class of every error raised by `opml.ml`."""


class OpError(MLError, ValueError):
    """An op was given inputs or attributes outside its documented domain (docs/ops.md)."""


class ModelError(MLError, ValueError):
    """A model file or in-memory model is malformed, corrupted or inconsistent."""


class InputError(MLError, ValueError):
    """A model was run on an input of the wrong count, shape or dtype."""


class QuantError(MLError, ValueError):
    """A real multiplier cannot be represented as (M0, shift)."""
