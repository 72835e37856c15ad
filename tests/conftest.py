"""Shared pytest fixtures. Each area keeps its fixtures in its own module, re-exported here."""

from fixtures_chain import anvil, contracts_built, isolated_chain, mips, w3  # noqa: F401
from fixtures_game import toy_stack, toy_stack3  # noqa: F401
