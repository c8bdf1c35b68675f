"""The operating system's confinement of the ``python`` tool's child process.

The audit hook in ``_sandbox_child.py`` sees only what Python does; native code (a shared
library the program writes and loads, say) runs beneath it. So the child runs inside
kernel boundaries that hold whatever code runs there:

1. ``unshare --user --map-root-user --mount`` makes a private mount namespace in which a
   ``tmpfs`` is mounted on the run's folder with ``noexec,nosuid,nodev`` and a size limit
   (``mount`` refuses to map anything executable from it, so a library written there
   cannot be loaded);
2. bubblewrap (``bwrap``) then builds the child's world: a new user namespace where it is
   ``nobody`` (65534) with no capabilities and no way to make more user namespaces; new
   PID, network (only a loopback of its own), IPC, UTS and cgroup namespaces; a read-only
   root with only ``/usr``, the interpreter's prefix, ``/etc/ld.so.cache``, a minimal
   ``/dev`` and the run's folder (``/sandbox``, the only writable place); ``no_new_privs``;
   a new session; and the kill of the whole PID namespace when bwrap dies
   (``--die-with-parent``);
3. a seccomp filter (``seccomp.py``) refuses process creation, ``memfd_create``,
   ``ptrace``, namespace and mount calls and other kernel surface.

Every layer is required: ``probe`` finds which ones this machine lacks and ``require``
refuses to run with a message naming them, never with less isolation.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO

from expertly.agents.tools.base import ToolError
from expertly.agents.tools.seccomp import filter_program

WORK_DIR = "/sandbox"
CHILD_PATH = "/expertly/sandbox_child.py"
NOBODY = 65534
# Programs the confinement runs, and the Debian package of each.
PROGRAMS = {"bwrap": "bubblewrap", "unshare": "util-linux", "mount": "mount", "sh": "dash"}
# Run by unshare as root of the new namespaces: the folder's tmpfs, then bwrap.
MOUNT_WORK_FOLDER = 'mount -t tmpfs -o "noexec,nosuid,nodev,size=$2,mode=0700" expertly "$1"'
SETUP_SCRIPT = MOUNT_WORK_FOLDER + ' && shift 2 && exec "$@"'
DOC = "docs/security.md"


@dataclass(frozen=True)
class Isolation:
    """What this machine lacks for confining the child; empty ``missing`` means all is there.

    Each entry of ``missing`` names one layer and how to get it, e.g. ``"bwrap (install
    the Debian package bubblewrap)"``.
    """

    missing: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        return not self.missing

    def require(self) -> None:
        """Raise ``ToolError`` naming every missing layer; return quietly if none is."""
        if self.missing:
            raise ToolError(
                "the python tool refuses to run without its operating-system isolation; "
                "missing here: " + "; ".join(self.missing) + f" (see {DOC})"
            )


def interpreter() -> list[str]:
    """The command that starts Python in the sandbox: the real interpreter (a virtual
    environment's link resolved), isolated (``-I``) and without ``site`` (``-S``), so that
    only the standard library is there and no ``.pth`` file's code runs at start-up."""
    return [os.path.realpath(sys.executable), "-I", "-S"]


def interpreter_binds() -> list[str]:
    """The folders the interpreter needs besides ``/usr``, each bound read-only at its path."""
    executable = os.path.realpath(sys.executable)
    wanted = {
        os.path.realpath(sys.base_prefix),
        os.path.realpath(sys.base_exec_prefix),
        os.path.dirname(executable),
    }
    folders: list[str] = []
    for folder in sorted(wanted):  # a parent sorts before its children
        if folder == "/usr" or folder.startswith("/usr/"):
            continue
        if any(folder.startswith(kept + "/") for kept in folders):
            continue
        folders.append(folder)
    return folders


def confined_argv(
    host_dir: str,
    inner: Sequence[str],
    *,
    work_bytes: int,
    seccomp_fd: int | None,
    ro_binds: Sequence[tuple[str, str]] = (),
) -> list[str]:
    """The command line that runs ``inner`` confined, with ``host_dir`` as ``/sandbox``.

    ``host_dir`` stays empty on the host: the tmpfs is mounted on it in the private mount
    namespace only, and vanishes with it. ``seccomp_fd`` is an open file holding
    ``filter_program()`` (``None`` only in tests of the other layers). ``ro_binds`` are
    (host path, sandbox path) pairs bound read-only, e.g. the child script at ``CHILD_PATH``.
    """
    paths = {name: shutil.which(name) or name for name in PROGRAMS}
    bwrap = [
        paths["bwrap"],
        "--unshare-user",
        "--uid", str(NOBODY),
        "--gid", str(NOBODY),
        "--disable-userns",
        "--unshare-pid",
        "--unshare-net",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup",
        "--die-with-parent",
        "--new-session",
        "--cap-drop", "ALL",
        "--clearenv",
        "--setenv", "HOME", WORK_DIR,
        "--setenv", "TMPDIR", WORK_DIR,
        "--setenv", "LANG", "C.UTF-8",
        "--setenv", "PATH", "/usr/bin:/bin",
        "--ro-bind", "/usr", "/usr",
        "--symlink", "usr/bin", "/bin",
        "--symlink", "usr/lib", "/lib",
        "--symlink", "usr/lib64", "/lib64",
        "--dev", "/dev",
    ]  # fmt: skip
    if os.path.exists("/etc/ld.so.cache"):
        bwrap += ["--ro-bind", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    for folder in interpreter_binds():
        bwrap += ["--ro-bind", folder, folder]
    for source, target in ro_binds:
        bwrap += ["--ro-bind", source, target]
    bwrap += [
        "--bind", host_dir, WORK_DIR,
        "--remount-ro", "/dev",
        "--remount-ro", "/",
        "--chdir", WORK_DIR,
    ]  # fmt: skip
    if seccomp_fd is not None:
        bwrap += ["--seccomp", str(seccomp_fd)]
    setup = [paths["unshare"], "--user", "--map-root-user", "--mount", "--propagation", "private"]
    setup += [paths["sh"], "-c", SETUP_SCRIPT, "expertly-sandbox", host_dir, str(work_bytes)]
    return [*setup, *bwrap, "--", *inner]


def seccomp_file() -> IO[bytes]:
    """An unnamed temporary file holding this machine's filter, positioned at its start."""
    handle = tempfile.TemporaryFile()  # noqa: SIM115 - the caller closes it after the run
    handle.write(filter_program())
    handle.seek(0)
    return handle


def _first_line(text: bytes) -> str:
    lines = text.decode("utf-8", errors="replace").strip().splitlines()
    return lines[-1] if lines else "no message"


@functools.cache
def probe() -> Isolation:
    """Find which layers this machine lacks, by trying each (about 0.1 s, once a process)."""
    missing = [
        f"{name} (install the Debian package {package})"
        for name, package in PROGRAMS.items()
        if shutil.which(name) is None
    ]
    try:
        filter_program()
    except ValueError as exc:
        missing.append(f"seccomp ({exc})")
    if missing:
        return Isolation(tuple(missing))
    unshare = shutil.which("unshare") or "unshare"
    namespaces = subprocess.run(
        [unshare, "--user", "--map-root-user", "--mount", "true"],
        capture_output=True,
        timeout=30,
        check=False,
    )
    if namespaces.returncode != 0:
        return Isolation(
            (
                "user and mount namespaces (unshare --user --mount failed: "
                f"{_first_line(namespaces.stderr)}; the kernel or the container refuses them)",
            )
        )
    host_dir = tempfile.mkdtemp(prefix="expertly-probe-")
    try:
        with seccomp_file() as seccomp:
            argv = confined_argv(
                host_dir,
                [*interpreter(), "-c", "pass"],
                work_bytes=1024 * 1024,
                seccomp_fd=seccomp.fileno(),
            )
            sandbox = subprocess.run(
                argv,
                capture_output=True,
                timeout=30,
                check=False,
                pass_fds=(seccomp.fileno(),),
            )
    finally:
        shutil.rmtree(host_dir, ignore_errors=True)
    if sandbox.returncode != 0:
        return Isolation(
            (
                "the sandbox's set-up (the tmpfs mount or bubblewrap) "
                f"(it failed here: {_first_line(sandbox.stderr)})",
            )
        )
    return Isolation()
