from __future__ import annotations

import socket

import pytest


def test_network_connections_fail_in_unit_tests() -> None:
    from tests.conftest import NetworkBlocked

    for address in [("192.0.2.1", 80), ("127.0.0.1", 9)]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s, pytest.raises(NetworkBlocked):
            s.connect(address)


def test_importing_expertly_does_not_import_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys, expertly, expertly.workspace, expertly.cli.main, expertly.answer.rag;"
        "bad = [m for m in ('torch', 'transformers', 'sentence_transformers') if m in sys.modules];"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
