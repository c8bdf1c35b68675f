"""Test tiers and the offline guard.

* Tests under ``tests/unit`` are marked ``unit`` (fakes, seconds); under
  ``tests/integration`` ``integration`` (tiny real models, real stores, subprocesses).
* Any network connection fails the test, except to loopback from integration tests
  (real local servers). No test may reach a model hub.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        path = str(item.path)
        if f"{os.sep}unit{os.sep}" in path:
            item.add_marker(pytest.mark.unit)
        elif f"{os.sep}integration{os.sep}" in path:
            item.add_marker(pytest.mark.integration)


class NetworkBlocked(RuntimeError):
    """Raised when a test tries to reach the network."""


def _is_loopback(address: Any) -> bool:
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, bytes | str) and str(host) in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(str(host)).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def _block_network(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    allow_loopback = request.node.get_closest_marker("integration") is not None
    real_connect = socket.socket.connect

    def guarded_connect(self: socket.socket, address: Any) -> Any:
        if self.family == socket.AF_UNIX or (allow_loopback and _is_loopback(address)):
            return real_connect(self, address)
        raise NetworkBlocked(f"test tried to connect to {address!r}: tests run offline")

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    yield
