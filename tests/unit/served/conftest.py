"""Every test here talks to a ``FakeServer`` on 127.0.0.1 (marked ``loopback``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.unit.served.fake_server import FakeServer


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "served" in item.path.parts:
            item.add_marker(pytest.mark.loopback)


@pytest.fixture
def fake_server() -> Iterator[FakeServer]:
    """A running fake server; at the end, every request must have had a reply queued."""
    with FakeServer() as server:
        yield server
    assert server.problems == []
