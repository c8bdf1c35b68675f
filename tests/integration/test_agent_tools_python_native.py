"""The python tool's operating-system layers, attacked with native code.

The audit hook cannot see what a shared library does once it is loaded, so these tests
run real native code, built with gcc here: first through the tool (where loading it must
fail), then inside the same confinement *without* the audit hook, where it runs and must
find nothing to harm. Each test names the layer it exercises.
"""

from __future__ import annotations

import base64
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from expertly.agents.tools import isolation
from expertly.agents.tools.base import ToolRegistry, ToolResult
from expertly.agents.tools.sandbox import PythonSandbox

ISOLATION = isolation.probe()
pytestmark = pytest.mark.skipif(
    not ISOLATION.complete, reason="no OS isolation here: " + "; ".join(ISOLATION.missing)
)
ESCAPE_NAME = f"xly-{os.getpid()}"[:15]  # the grandchild's comm, unique to this session

# The library's constructor does what the reported escape did, and says how each went.
LIBRARY_SOURCE = r"""
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

static void say(const char *what, long value, int err) {
    char line[256];
    int n = snprintf(line, sizeof line, "%s=%ld errno=%s\n", what, value, strerror(err));
    if (write(1, line, n) < 0) { _exit(3); }
}

static void try_read(const char *label, const char *path) {
    errno = 0;
    int fd = open(path, O_RDONLY);
    char buf[64] = {0};
    long got = fd >= 0 ? (long)read(fd, buf, sizeof buf - 1) : -1;
    say(label, got, errno);
    if (got > 0) { say(buf, 0, 0); }
}

__attribute__((constructor)) static void escape(void) {
    say("constructor ran", 0, 0);
    int marker = open("marker", O_WRONLY | O_CREAT, 0600);
    say("marker", marker, errno);
    errno = 0;
    long status = system("echo SYSTEM-RAN");
    say("system", status, errno);
    try_read("shadow", "/etc/shadow");
    try_read("secret", SECRET_PATH);
    errno = 0;
    long signalled = kill(HOST_PID, 0);
    say("kill host", signalled, errno);
    say("ppid", getppid(), 0);
    say("uid", getuid(), 0);
    errno = 0;
    pid_t child = fork();
    if (child == 0) {
        setsid();
        if (fork() == 0) {
            prctl(PR_SET_NAME, "ESCAPE_NAME", 0, 0, 0);
            say("grandchild", getpid(), 0);
            sleep(60);
        }
        _exit(0);
    }
    say("fork", child, errno);
    errno = 0;
    int fill = open("fill", O_WRONLY | O_CREAT, 0600);
    static char block[1 << 20];
    long written = 0;
    for (int i = 0; i < 512 && fill >= 0; i++) {
        long n = write(fill, block, sizeof block);
        if (n <= 0) { break; }
        written += n;
    }
    say("disk", written, errno);
}
"""


@pytest.fixture(scope="module")
def library(module_tmp: Callable[[str], Path]) -> Iterator[tuple[Path, Path]]:
    """A real shared library built with gcc, and the host secret its constructor reads."""
    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is not installed: the native-code tests build a shared library")
    folder = module_tmp("native")
    secret = folder / "host-secret.txt"
    secret.write_text("the host's secret")
    source = folder / "escape.c"
    source.write_text(
        LIBRARY_SOURCE.replace("SECRET_PATH", f'"{secret}"')
        .replace("HOST_PID", str(os.getpid()))
        .replace("ESCAPE_NAME", ESCAPE_NAME)
    )
    built = folder / "escape.so"
    subprocess.run([gcc, "-shared", "-fPIC", "-O1", "-o", str(built), str(source)], check=True)
    yield built, secret
    _kill_escapees()


def _escapees() -> list[int]:
    found = []
    for comm in Path("/proc").glob("[0-9]*/comm"):
        with contextlib.suppress(OSError):
            if comm.read_text().strip() == ESCAPE_NAME:
                found.append(int(comm.parent.name))
    return found


def _host_uid(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError(f"no Uid line for {pid}")


def _kill_escapees() -> None:
    for pid in _escapees():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def run_tool(code: str, timeout_s: float = 5.0) -> ToolResult:
    tool = PythonSandbox(timeout_s=timeout_s, memory_mb=256, output_chars=4000)
    return ToolRegistry.of([tool]).call("python", {"code": code})


def test_a_library_written_to_the_folder_cannot_be_loaded(library: tuple[Path, Path]) -> None:
    """The reported escape, through the tool: noexec on the folder stops dlopen."""
    built, _ = library
    data = base64.b64encode(built.read_bytes()).decode()
    code = (
        "import base64, importlib.util, os\n"
        f"open('escape.so', 'wb').write(base64.b64decode({data!r}))\n"
        "spec = importlib.util.spec_from_file_location('escape', '/sandbox/escape.so')\n"
        "try:\n"
        "    importlib.util.module_from_spec(spec)\n"
        "except ImportError as exc:\n"
        "    print('refused:', exc)\n"
        "print(sorted(os.listdir('.')))\n"
    )
    result = run_tool(code)
    assert result.ok, result.output
    assert "failed to map segment from shared object" in result.output
    assert "constructor ran" not in result.output and "SYSTEM-RAN" not in result.output
    assert result.output.strip().endswith("['escape.so']")  # no marker was written


def test_an_anonymous_executable_file_cannot_be_made() -> None:
    """memfd_create (a file on no mount at all, so noexec would not apply) is refused."""
    result = run_tool("import os\nos.memfd_create('library')")
    assert not result.ok
    assert "PermissionError: [Errno 1] Operation not permitted" in result.output


def test_the_disk_limit_holds_across_many_files() -> None:
    """Each file is cut at 16 MiB (RLIMIT_FSIZE) and the folder at 64 MiB (tmpfs size)."""
    code = (
        "total = 0\n"
        "try:\n"
        "    for i in range(100):\n"
        "        with open(f'part{i}', 'wb') as f:\n"
        "            total += f.write(bytes(8 * 1024 * 1024))\n"
        "except OSError as exc:\n"
        "    print(exc.strerror)\n"
        "print(total)\n"
    )
    result = run_tool(code)
    assert result.ok, result.output
    error, total = result.output.splitlines()
    assert error == "No space left on device"
    assert int(total) <= 64 * 1024 * 1024


def run_confined(
    code: str,
    library: Path,
    *,
    seccomp: bool = True,
    wait_for: str | None = None,
) -> tuple[int, str, list[tuple[int, int]]]:
    """Run ``python -I -S -c code`` confined like the tool but with no audit hook.

    The library is bound read-only (and executable) at /lib-under-test/escape.so so that
    native code does run inside. With ``wait_for``, the run is killed as the tool kills it
    on a timeout, as soon as that text has been printed; the host pids of the escape's
    grandchildren alive just before the kill come back too, each with its uid on the host.
    """
    with isolation.mount_point() as host_dir:
        proc = isolation.spawn(
            host_dir,
            [*isolation.interpreter(), "-c", code],
            work_bytes=64 * 1024 * 1024,
            ro_binds=[(str(library), "/lib-under-test/escape.so")],
            seccomp=seccomp,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        assert proc.stdout is not None
        output = []
        alive: list[tuple[int, int]] = []
        for raw in proc.stdout:
            line = raw.decode()
            output.append(line)
            if wait_for is not None and wait_for in line:
                alive = [(pid, _host_uid(pid)) for pid in _escapees()]
                os.killpg(proc.pid, signal.SIGKILL)  # what the tool does on a timeout
                break
        proc.wait(timeout=30)
        assert os.listdir(host_dir) == []  # the run's files never reach the host
        return proc.returncode, "".join(output), alive


LOAD = "import ctypes\nctypes.CDLL('/lib-under-test/escape.so')\nprint('loaded', flush=True)\n"


def test_native_code_inside_finds_nothing_to_harm(library: tuple[Path, Path]) -> None:
    """No hook at all: the constructor runs and every attempt fails at a kernel boundary."""
    built, _ = library
    returncode, output, _ = run_confined(LOAD, built)
    assert returncode == 0, output
    lines = dict(line.split("=", 1) for line in output.splitlines() if "=" in line)
    assert "SYSTEM-RAN" not in output
    # seccomp: no new process (glibc reports a spawn it could not make as exit status 127)
    assert lines["system"].split()[0] in ("-1", "32512")
    assert lines["system"].endswith("errno=Operation not permitted")
    assert lines["fork"] == "-1 errno=Operation not permitted"
    assert lines["shadow"] == "-1 errno=No such file or directory"  # not in its world
    assert lines["secret"] == "-1 errno=No such file or directory"
    assert "the host's secret" not in output and "root:" not in output
    assert lines["kill host"] == "-1 errno=No such process"  # PID namespace
    assert lines["ppid"].startswith("1 ")  # bwrap's init, inside the namespace
    assert lines["uid"].startswith(f"{isolation.NOBODY} ")
    assert lines["disk"] == "67108864 errno=No space left on device"  # tmpfs size
    assert _escapees() == []


def test_nothing_outlives_the_kill_even_without_seccomp(library: tuple[Path, Path]) -> None:
    """The PID namespace alone: a setsid grandchild dies when the run is killed."""
    built, _ = library
    returncode, output, alive = run_confined(LOAD, built, seccomp=False, wait_for="grandchild=")
    assert len(alive) == 1, output  # it was running, detached, just before the kill
    # Outside its namespaces it is nobody when the tests run as root (the user otherwise).
    assert alive[0][1] == (isolation.NOBODY if os.getuid() == 0 else os.getuid())
    assert returncode == -signal.SIGKILL
    deadline = time.monotonic() + 5
    while _escapees() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _escapees() == [], "a grandchild outlived the run"


@pytest.fixture
def listener() -> Iterator[int]:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.5)
    yield server.getsockname()[1]
    with pytest.raises(TimeoutError):
        server.accept()  # nobody connected
    server.close()


def test_the_kernel_confines_python_without_the_hook(
    library: tuple[Path, Path], listener: int
) -> None:
    """Plain Python, no hook: the network, files, processes and privileges are closed."""
    built, secret = library
    code = (
        "import ctypes, os, socket\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "def attempt(name, action):\n"
        "    try:\n"
        "        action()\n"
        "        print(name, 'done')\n"
        "    except OSError as exc:\n"
        "        print(name, exc.strerror)\n"
        f"attempt('connect', lambda: socket.create_connection(('127.0.0.1', {listener}), 2))\n"
        f"attempt('secret', lambda: open({str(secret)!r}).read())\n"
        "attempt('write root', lambda: open('/evil', 'w'))\n"
        "attempt('write usr', lambda: open('/usr/evil', 'w'))\n"
        "attempt('write dev', lambda: open('/dev/shm/evil', 'w'))\n"
        "attempt('fork', os.fork)\n"
        f"attempt('kill host', lambda: os.kill({os.getpid()}, 0))\n"
        "print('unshare', libc.unshare(0x10000000), ctypes.get_errno())\n"
        "print('no_new_privs', libc.prctl(39, 0, 0, 0, 0))\n"
        "print('seccomp', libc.prctl(21, 0, 0, 0, 0))\n"
        "print('listing', sorted(os.listdir('/')))\n"
    )
    returncode, output, _ = run_confined(code, built)
    assert returncode == 0, output
    assert output.splitlines() == [
        "connect Connection refused",  # its own loopback, not the host's
        "secret No such file or directory",
        "write root Read-only file system",
        "write usr Read-only file system",
        "write dev Read-only file system",
        "fork Operation not permitted",
        "kill host No such process",
        "unshare -1 1",
        "no_new_privs 1",
        "seccomp 2",
        "listing " + repr(sorted(_expected_root())),
    ]


def _expected_root() -> set[str]:
    top = {"bin", "dev", "lib", "lib64", "usr", "sandbox", "lib-under-test"}
    if Path("/etc/ld.so.cache").exists():
        top.add("etc")
    for folder in isolation.interpreter_binds():
        top.add(folder.strip("/").split("/")[0])
    return top
