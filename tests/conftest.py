"""Shared pytest fixtures. Each area keeps its fixtures in its own module, re-exported here."""

import pytest

from fixtures_chain import anvil, contracts_built, isolated_chain, mips, w3  # noqa: F401
from fixtures_game import toy_stack, toy_stack3  # noqa: F401
from fixtures_node import net  # noqa: F401


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "net(kind=NodeNet, **settings): the node network the `net` fixture starts")


@pytest.fixture(autouse=True)
def _fresh_structlog():
    """A test that configures structlog (format, level, an explicit stream) must not leave later tests in the same
    worker with its configuration: events asserted on would come out in the wrong format, or go to a stream that
    test closed. (The default stream is looked up at each write, so it is never a closed capture.)"""
    yield
    import structlog

    structlog.reset_defaults()
