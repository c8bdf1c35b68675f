"""The python tool's isolation checks and seccomp filter, without starting a sandbox.

The refusal is tested with fake probe results; the filter is run through a small
interpreter of the BPF instructions it uses (the kernel's own run is in
tests/integration/test_agent_tools_python_native.py).
"""

from __future__ import annotations

import errno
import struct
import subprocess
from typing import Any

import pytest

from expertly.agents.tools import isolation, seccomp
from expertly.agents.tools.base import ToolError, ToolRegistry
from expertly.agents.tools.sandbox import PythonSandbox

KILL, ALLOW = 0x80000000, 0x7FFF0000
EPERM, ENOSYS = 0x00050000 | errno.EPERM, 0x00050000 | errno.ENOSYS
X86_64, AARCH64, I386 = 0xC000003E, 0xC00000B7, 0x40000003


def decide(program: bytes, arch: int, nr: int, arg0: int = 0) -> int:
    """Run a seccomp program on one system call (only the opcodes the filter uses)."""
    data = struct.pack("=iIQ6Q", nr, arch, 0, arg0, 0, 0, 0, 0, 0)
    ops = [struct.unpack_from("=HBBI", program, at) for at in range(0, len(program), 8)]
    pc, acc = 0, 0
    while True:
        code, jt, jf, k = ops[pc]
        pc += 1
        if code == 0x20:
            acc = struct.unpack_from("=I", data, k)[0]
        elif code == 0x06:
            return k
        else:
            taken = {0x15: acc == k, 0x35: acc >= k, 0x45: acc & k != 0}[code]
            pc += jt if taken else jf


@pytest.mark.parametrize(("machine", "arch"), [("x86_64", X86_64), ("aarch64", AARCH64)])
def test_the_filter_refuses_escapes_and_allows_the_rest(machine: str, arch: int) -> None:
    program = seccomp.filter_program(machine)
    assert len(program) % 8 == 0
    numbers = {
        name: pair[0 if machine == "x86_64" else 1] for name, pair in seccomp._NUMBERS.items()
    }
    for name in seccomp.REFUSED:
        number = numbers[name]
        if number is not None:
            assert decide(program, arch, number) == EPERM, name
    clone = numbers["clone"]
    assert clone is not None
    assert decide(program, arch, clone, arg0=0x00010000 | 0x00000100) == ALLOW  # a thread
    assert decide(program, arch, clone, arg0=0x01000000 | 17) == EPERM  # fork-like
    assert decide(program, arch, 435) == ENOSYS  # clone3: the C library falls back to clone
    for ordinary in (0, 1, 3, 9, 60, 62):  # read, write, close, mmap..., all allowed
        if ordinary not in numbers.values():
            assert decide(program, arch, ordinary) == ALLOW
    assert decide(program, I386, 2) == KILL  # another convention: numbers mean other calls


def test_x32_calls_are_killed() -> None:
    assert decide(seccomp.filter_program("x86_64"), X86_64, 0x40000000 | 319) == KILL


def test_an_unknown_architecture_has_no_filter() -> None:
    with pytest.raises(ValueError, match=r"riscv64 architecture \(supported: x86_64, aarch64\)"):
        seccomp.filter_program("riscv64")


def test_a_missing_layer_is_named_and_the_tool_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    lacking = isolation.Isolation(("bwrap (install the Debian package bubblewrap)",))
    assert not lacking.complete
    with pytest.raises(ToolError, match=r"missing here: bwrap \(install the Debian package"):
        lacking.require()
    isolation.Isolation().require()  # complete: no error

    def no_process(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("nothing may start without the isolation")

    monkeypatch.setattr(isolation, "probe", lambda: lacking)
    monkeypatch.setattr(subprocess, "Popen", no_process)
    result = ToolRegistry.of([PythonSandbox()]).call("python", {"code": "print(1)"})
    assert not result.ok
    assert "refuses to run without its operating-system isolation" in result.output
    assert "bubblewrap" in result.output and "docs/security.md" in result.output


def test_the_probe_names_missing_programs_and_architecture(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(isolation.shutil, "which", lambda name: None if name == "bwrap" else name)
    monkeypatch.setattr(seccomp.platform, "machine", lambda: "riscv64")
    found = isolation.probe.__wrapped__()
    assert found.missing == (
        "bwrap (install the Debian package bubblewrap)",
        "seccomp (no seccomp filter for the riscv64 architecture (supported: x86_64, aarch64))",
    )


def test_the_probe_names_refused_namespaces(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(isolation.shutil, "which", lambda name: f"/usr/bin/{name}")
    monkeypatch.setattr(seccomp.platform, "machine", lambda: "x86_64")

    def refused(argv: list[str], **kwargs: Any) -> subprocess.CompletedProcess[bytes]:
        assert argv[:3] == ["/usr/bin/unshare", "--user", "--map-root-user"]
        return subprocess.CompletedProcess(argv, 1, b"", b"unshare: Operation not permitted\n")

    monkeypatch.setattr(isolation.subprocess, "run", refused)
    (missing,) = isolation.probe.__wrapped__().missing
    assert missing.startswith("user and mount namespaces (unshare --user --mount failed: ")
    assert "unshare: Operation not permitted" in missing


def test_as_root_the_ids_are_mapped_by_the_parent_and_dropped_to_nobody() -> None:
    argv = isolation.confined_argv(
        "/tmp/run", ["python"], work_bytes=1024, seccomp_fd=None, map_ids=True
    )
    assert "--map-root-user" not in argv
    start = argv.index("expertly-sandbox")
    assert argv[start + 1 : start + 5] == ["wait", "/tmp/run", "1024", "65534"]
    drop = argv.index("--reuid=65534")
    assert argv[drop + 1 : drop + 3] == ["--regid=65534", "--clear-groups"]
    assert argv[drop + 3].endswith("bwrap")


def test_the_command_line_holds_every_layer() -> None:
    argv = isolation.confined_argv(
        "/tmp/run", ["python", "-I", "x.py"], work_bytes=1024, seccomp_fd=7
    )
    text = " ".join(argv)
    assert "noexec,nosuid,nodev,size=$size" in text and " go /tmp/run 1024 0 " in text
    assert "--map-root-user" in argv and "setpriv" not in text
    for flag in (
        "--unshare-pid",
        "--unshare-net",
        "--unshare-ipc",
        "--disable-userns",
        "--die-with-parent",
        "--new-session",
        "--uid 65534",
        "--seccomp 7",
        "--remount-ro /",
        "--bind /tmp/run/work /sandbox",
    ):
        assert flag in text, flag
    assert argv[-4:] == ["--", "python", "-I", "x.py"]
