"""The python tool's sandbox, attacked on purpose: each test is one thing the code must not do.

Every test spawns a real sandboxed child process (about 0.2 s each; the two timeout tests
take the timeout plus the kill).
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from expertly.agents.tools import isolation
from expertly.agents.tools.base import ToolRegistry, ToolResult
from expertly.agents.tools.sandbox import PythonSandbox

TIMEOUT_S = 2.0
ISOLATION = isolation.probe()
pytestmark = pytest.mark.skipif(
    not ISOLATION.complete, reason="no OS isolation here: " + "; ".join(ISOLATION.missing)
)


@pytest.fixture(scope="module")
def sandbox() -> PythonSandbox:
    return PythonSandbox(timeout_s=TIMEOUT_S, memory_mb=256, output_chars=2000)


def run(sandbox: PythonSandbox, code: str) -> ToolResult:
    return ToolRegistry.of([sandbox]).call("python", {"code": code})


def test_normal_code_runs_and_returns_its_output(sandbox: PythonSandbox) -> None:
    code = (
        "import json, math, statistics\n"
        "print(json.dumps({'root': math.sqrt(2), 'mean': statistics.mean([1, 2, 3, 4])}))\n"
        "open('notes.txt', 'w').write('kept in the sandbox')\n"
        "print(open('notes.txt').read())\n"
    )
    result = run(sandbox, code)
    assert result.ok, result.output
    assert result.output.splitlines() == [
        '{"root": 1.4142135623730951, "mean": 2.5}',
        "kept in the sandbox",
    ]


@pytest.fixture
def listener() -> Iterator[int]:
    """A TCP server on 127.0.0.1 that records whether anyone connected."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    accepted: list[object] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                accepted.append(server.accept())
            except TimeoutError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    server.close()
    assert accepted == [], "the sandboxed code reached the host's loopback"


def test_cannot_open_a_socket_even_to_loopback(sandbox: PythonSandbox, listener: int) -> None:
    for code, message in (
        (
            f"import socket\ns = socket.socket()\ns.connect(('127.0.0.1', {listener}))",
            "socket.__new__ is not allowed",
        ),
        (
            f"import socket\nsocket.create_connection(('127.0.0.1', {listener}), timeout=1)",
            "socket.getaddrinfo is not allowed",
        ),
        ("import _socket\n_socket.socket()", "socket.__new__ is not allowed"),
        ("import urllib.request\nurllib.request.urlopen('http://127.0.0.1:1')", "socket."),
    ):
        result = run(sandbox, code)
        assert not result.ok and message in result.output, (code, result.output)


def test_cannot_read_files_outside_its_folder(sandbox: PythonSandbox, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("the host's secret")
    for code in (
        f"print(open({str(secret)!r}).read())",
        f"import pathlib; print(pathlib.Path({str(secret)!r}).read_text())",
        f"import os; fd = os.open({str(secret)!r}, os.O_RDONLY); print(os.read(fd, 100))",
        "print(open('/etc/passwd').read())",
        f"print(open('../../../../../../..{secret}').read())",
    ):
        result = run(sandbox, code)
        assert not result.ok, code
        assert "is outside the sandbox directory" in result.output, code
        assert "the host's secret" not in result.output and "root:" not in result.output


def test_cannot_list_or_write_outside_its_folder(sandbox: PythonSandbox, tmp_path: Path) -> None:
    target = tmp_path / "written.txt"
    outside = "is outside the sandbox directory"
    for code, message in (
        (f"open({str(target)!r}, 'w').write('x')", outside),
        (f"import os; os.mkdir({str(tmp_path / 'newdir')!r})", outside),
        (f"import os; os.remove({str(tmp_path)!r} + '/anything')", outside),
        (f"import os; print(os.listdir({str(tmp_path)!r}))", outside),
        (f"import shutil; shutil.copy('/etc/passwd', {str(tmp_path)!r})", outside),
        ("import os; os.symlink('/etc/passwd', 'link')", "os.symlink is not allowed"),
        ("import os; os.chdir('/')", "changing the working directory is not allowed"),
        # C code that writes or reads files without audit events is not reachable at all
        (f"import os; os.mkfifo({str(tmp_path / 'fifo')!r})", "no attribute 'mkfifo'"),
        (f"import sqlite3; sqlite3.connect({str(tmp_path / 'x.db')!r})", "importing _sqlite3"),
        ("import pwd; print(pwd.getpwall())", "importing pwd"),
        ("import sys; del sys.modules['posix']; import posix", "importing posix"),
    ):
        result = run(sandbox, code)
        assert not result.ok and message in result.output, (code, result.output)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_cannot_start_processes(sandbox: PythonSandbox) -> None:
    for code, message in (
        ("import subprocess; subprocess.run(['id'])", "importing _posixsubprocess"),
        ("import os; os.system('id')", "os.system is not allowed"),
        ("import os; os.execv('/bin/sh', ['sh'])", "os.exec is not allowed"),
        ("import os; os.fork()", "os.fork is not allowed"),
        ("import os; os.posix_spawn('/bin/sh', ['sh'], {})", "os.posix_spawn is not allowed"),
        ("import ctypes", "importing ctypes"),
        ("import os; os.kill(1, 0)", "os.kill is not allowed"),
    ):
        result = run(sandbox, code)
        assert not result.ok and message in result.output, (code, result.output)


@pytest.mark.parametrize("code", ["while True: pass", "import time; time.sleep(100)"])
def test_cannot_run_past_its_time_limit(sandbox: PythonSandbox, code: str) -> None:
    start = time.perf_counter()
    result = run(sandbox, code)
    elapsed = time.perf_counter() - start
    assert not result.ok
    # The wall clock or the CPU limit stops it, whichever comes first on this machine.
    assert (
        "[stopped: the program ran longer than 2 s]" in result.output
        or "[stopped: the program used more than 2 s of CPU]" in result.output
    )
    # Far below the 100 s (or forever) the program asked for; the margin covers starting
    # the interpreter on a loaded machine (a fraction of a second when idle).
    assert elapsed < TIMEOUT_S + 5.0


def test_the_agents_deadline_stops_the_program_before_its_own_limit(
    sandbox: PythonSandbox, tmp_path: Path
) -> None:
    """Given 0.8 s of agent time (less than the tool's 2 s), the run is killed at 0.8 s:
    nothing keeps running after the agent has moved on."""
    start = time.perf_counter()
    result = ToolRegistry.of([sandbox]).call(
        "python", {"code": "import time; time.sleep(100)"}, timeout_s=0.8
    )
    elapsed = time.perf_counter() - start
    assert not result.ok
    assert "[stopped: the program ran longer than 0.8 s]" in result.output
    assert elapsed < 0.8 + 2.0


def test_cannot_allocate_past_its_memory_limit(sandbox: PythonSandbox) -> None:
    result = run(sandbox, "data = bytearray(2 * 1024**3)\nprint('allocated')")
    assert not result.ok
    assert "MemoryError" in result.output and "allocated" not in result.output


def test_cannot_write_huge_files(sandbox: PythonSandbox) -> None:
    result = run(sandbox, "open('big', 'wb').write(b'x' * (64 * 1024 * 1024))")
    assert not result.ok and "File too large" in result.output


def test_huge_output_is_cut(sandbox: PythonSandbox) -> None:
    start = time.perf_counter()
    result = run(sandbox, "for i in range(200000): print('line', i)")
    assert result.ok and result.truncated
    assert len(result.output) < 2100
    assert result.output.startswith("line 0\nline 1\n")
    assert "[... output cut:" in result.output
    assert time.perf_counter() - start < TIMEOUT_S + 1.0


def test_errors_come_back_as_short_tracebacks(sandbox: PythonSandbox) -> None:
    result = run(sandbox, "def f():\n    return 1 / 0\nf()")
    assert not result.ok
    assert 'File "<python>", line 2, in f' in result.output
    assert "ZeroDivisionError: division by zero" in result.output
    assert "_sandbox_child" not in result.output  # the runner's own frames are hidden
    assert result.output.endswith("[exit code 1]")
    syntax = run(sandbox, "def (")
    assert not syntax.ok and "SyntaxError" in syntax.output


def test_the_folder_is_deleted_and_the_environment_empty(
    sandbox: PythonSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    parent = tempfile.mkdtemp(dir=isolation.MOUNT_PARENT)  # others' runs use MOUNT_PARENT too
    os.chmod(parent, 0o755)  # traversable by nobody, as MOUNT_PARENT is
    monkeypatch.setattr(isolation, "MOUNT_PARENT", parent)
    result = run(sandbox, "import os; print(os.getcwd()); print(sorted(os.environ))")
    assert result.ok
    folder, env = result.output.splitlines()
    assert folder == isolation.WORK_DIR
    assert os.listdir(parent) == []
    os.rmdir(parent)
    assert env == "['HOME', 'LANG', 'PATH', 'PWD', 'TMPDIR']"  # PWD: bwrap's --chdir


def test_the_hook_cannot_be_tampered_with(sandbox: PythonSandbox) -> None:
    code = (
        "import builtins\n"
        "try:\n"
        "    open('/etc/passwd')\n"
        "except PermissionError as e:\n"
        "    tb = e.__traceback__\n"
        "while tb.tb_next:\n"
        "    tb = tb.tb_next\n"
        "frame = tb.tb_frame  # the hook's own check function\n"
        "resolve = frame.f_locals['_resolve']\n"
        "frame.f_locals['_root'] = '/'\n"
        "for attempt in ('__defaults__', '__code__'):\n"
        "    try:\n"
        "        setattr(resolve, attempt, (lambda t, *a: t).__code__ if attempt == '__code__'"
        " else ())\n"
        "        print('changed', attempt)\n"
        "    except PermissionError as exc:\n"
        "        print('refused', attempt)\n"
        "builtins.OSError = BaseException\n"
        "builtins.type = lambda x: str\n"
        "print(open('/etc/passwd').read())\n"
    )
    result = run(sandbox, code)
    assert not result.ok
    assert "refused __defaults__\nrefused __code__\n" in result.output
    assert "changed" not in result.output and "root:" not in result.output
    assert "'/etc/passwd' is outside the sandbox directory" in result.output


def test_modules_outside_the_prefix_cannot_be_imported(
    sandbox: PythonSandbox, tmp_path: Path
) -> None:
    (tmp_path / "leak.py").write_text("SECRET = 'host module'\n")
    result = run(sandbox, f"import sys\nsys.path.insert(0, {str(tmp_path)!r})\nimport leak")
    assert not result.ok and "host module" not in result.output
    assert "ModuleNotFoundError" in result.output or "PermissionError" in result.output


def test_files_and_modules_inside_the_folder_work(sandbox: PythonSandbox) -> None:
    code = (
        "import pathlib, sys\n"
        "pathlib.Path('helper.py').write_text('def double(x):\\n    return 2 * x\\n')\n"
        "sys.path.insert(0, '.')\n"
        "import helper\n"
        "print(helper.double(21))\n"
    )
    result = run(sandbox, code)
    assert result.ok, result.output
    assert result.output.strip() == "42"


def test_output_and_status_fit_in_output_chars() -> None:
    from expertly.agents.tools import build_tools
    from expertly.config import AgentSettings

    settings = AgentSettings(tools=["python"], output_chars=500, python_timeout_s=2)
    result = build_tools(settings).call(
        "python", {"code": "print('x' * 5000)\nraise SystemExit(3)"}
    )
    assert not result.ok and result.truncated
    assert len(result.output) <= 500
    assert "[... output cut:" in result.output and result.output.endswith("[exit code 3]")
