"""The operating system's confinement of the ``python`` tool's child process.

The audit hook in ``_sandbox_child.py`` sees only what Python does; native code (a shared
library the program writes and loads, say) runs beneath it. So the child runs inside
kernel boundaries that hold whatever code runs there:

1. ``unshare --user --mount`` makes a private mount namespace (the *staging* one, run by
   ``SETUP_SCRIPT``) in which a ``tmpfs`` is mounted on the run's folder with
   ``noexec,nosuid,nodev`` and a size limit (the kernel refuses to map anything executable
   from it, so a library written there cannot be loaded), and the interpreter's folders are
   bound where an unprivileged user can reach them;
2. bubblewrap (``bwrap``) then builds the child's world: a new user namespace where it is
   ``nobody`` (65534) with no capabilities and no way to make more user namespaces; new
   PID, network (only a loopback of its own), IPC, UTS and cgroup namespaces; a read-only
   root with only ``/usr``, the interpreter's prefix, ``/etc/ld.so.cache``, a minimal
   ``/dev`` and the run's folder (``/sandbox``, the only writable place); ``no_new_privs``;
   a new session; and the kill of the whole PID namespace when bwrap dies
   (``--die-with-parent``);
3. a seccomp filter (``seccomp.py``) refuses process creation, ``memfd_create``,
   ``ptrace``, namespace and mount calls and other kernel surface.

``nobody`` inside maps to a user outside. Run by an ordinary user, that is the user
(``unshare --map-root-user``). Run by root, the staging namespace maps both 0 and 65534 to
themselves (``spawn`` writes the maps, as only a privileged parent can), the staging script
drops to 65534 with ``setpriv`` before bwrap, and the child is the host's ``nobody``.

Every layer is required: ``probe`` finds which ones this machine lacks and ``require``
refuses to run with a message naming them, never with less isolation.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any

from expertly.agents.tools.base import ToolError
from expertly.agents.tools.seccomp import filter_program

WORK_DIR = "/sandbox"
CHILD_PATH = "/expertly/sandbox_child.py"
NOBODY = 65534
# Programs the confinement runs, and the Debian package of each.
PROGRAMS = {
    "bwrap": "bubblewrap",
    "unshare": "util-linux",
    "setpriv": "util-linux",
    "mount": "mount",
    "sh": "dash",
}
# Run by unshare as root of the staging namespaces. Arguments: "wait" (stop until the parent
# has written the id maps and sent SIGCONT) or "go", the staging folder (the host's empty
# run folder), the tmpfs size, the uid owning the work folder, the folders and files to
# make reachable (bound at $stage/1, $stage/2, ...), "--", then the command.
SETUP_SCRIPT = r"""set -e
if [ "$1" = wait ]; then kill -STOP $$; fi
stage=$2 size=$3 owner=$4
shift 4
mount -t tmpfs -o nosuid,nodev,size=1m,mode=0755 expertly-staging "$stage"
mkdir "$stage/work"
mount -t tmpfs -o "noexec,nosuid,nodev,size=$size,mode=0700,uid=$owner,gid=$owner" \
    expertly "$stage/work"
n=0
while [ "$1" != -- ]; do
    n=$((n + 1))
    if [ -d "$1" ]; then mkdir "$stage/$n"; else : >"$stage/$n"; fi
    mount --bind "$1" "$stage/$n"
    shift
done
shift
exec "$@"
"""
DOC = "docs/security.md"
# Where runs' (empty) mount points are made: every user must be able to traverse it, since
# bwrap runs as nobody when expertly runs as root (a private TMPDIR may not be).
MOUNT_PARENT = "/tmp"


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
    map_ids: bool = False,
) -> list[str]:
    """The command line that runs ``inner`` confined, with ``host_dir`` as ``/sandbox``.

    ``host_dir`` stays empty on the host: the staging tmpfs is mounted on it in the private
    mount namespace only, and vanishes with it. ``seccomp_fd`` is an open file holding
    ``filter_program()`` (``None`` only in tests of the other layers). ``ro_binds`` are
    (host path, sandbox path) pairs bound read-only, e.g. the child script at
    ``CHILD_PATH``. ``map_ids`` (for a root caller) makes the staging script stop until
    ``spawn`` has written its id maps, and drop to ``nobody`` before bwrap; without it the
    caller's own uid is mapped (``--map-root-user``). Use ``spawn`` to run it.
    """
    paths = {name: shutil.which(name) or name for name in PROGRAMS}
    reachable = [(folder, folder) for folder in interpreter_binds()] + list(ro_binds)
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
    for number, (_, target) in enumerate(reachable, start=1):
        bwrap += ["--ro-bind", f"{host_dir}/{number}", target]
    bwrap += [
        "--bind", f"{host_dir}/work", WORK_DIR,
        "--remount-ro", "/dev",
        "--remount-ro", "/",
        "--chdir", WORK_DIR,
    ]  # fmt: skip
    if seccomp_fd is not None:
        bwrap += ["--seccomp", str(seccomp_fd)]
    setup = [paths["unshare"], "--user", "--mount", "--propagation", "private"]
    if map_ids:
        start, owner = "wait", str(NOBODY)
        drop = [paths["setpriv"], f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]
    else:
        setup.insert(2, "--map-root-user")
        start, owner, drop = "go", "0", []
    setup += [paths["sh"], "-c", SETUP_SCRIPT, "expertly-sandbox", start]
    setup += [host_dir, str(work_bytes), owner, *(source for source, _ in reachable), "--"]
    return [*setup, *drop, *bwrap, "--", *inner]


def spawn(
    host_dir: str,
    inner: Sequence[str],
    *,
    work_bytes: int,
    ro_binds: Sequence[tuple[str, str]] = (),
    seccomp: bool = True,
    **popen: Any,
) -> subprocess.Popen[bytes]:
    """Start ``inner`` confined (see ``confined_argv``); ``popen`` goes to ``Popen``.

    As root, waits until the staging namespace exists, writes its id maps (0 and 65534 to
    themselves) and lets it go on. ``seccomp=False`` is for tests of the other layers only.
    Raises ``ToolError`` if the maps cannot be written (the child is killed then).
    """
    as_root = os.geteuid() == 0
    with contextlib.ExitStack() as stack:
        seccomp_fd = stack.enter_context(seccomp_file()).fileno() if seccomp else None
        argv = confined_argv(
            host_dir,
            inner,
            work_bytes=work_bytes,
            seccomp_fd=seccomp_fd,
            ro_binds=ro_binds,
            map_ids=as_root,
        )
        fds = () if seccomp_fd is None else (seccomp_fd,)
        proc = subprocess.Popen(argv, pass_fds=fds, **popen)
    if as_root:
        _map_ids(proc)
    return proc


def _map_ids(proc: subprocess.Popen[bytes]) -> None:
    """Wait for the staging script to stop itself, write its maps, let it go on.

    If it ended instead of stopping (unshare failed), its status is recorded on ``proc``.
    """
    _, status = os.waitpid(proc.pid, os.WUNTRACED)
    if not os.WIFSTOPPED(status):
        proc.returncode = os.waitstatus_to_exitcode(status)
        return
    try:
        for kind in ("uid_map", "gid_map"):
            with open(f"/proc/{proc.pid}/{kind}", "w") as handle:
                handle.write(f"0 0 1\n{NOBODY} {NOBODY} 1\n")
    except OSError as exc:
        proc.kill()
        proc.wait()
        raise ToolError(f"could not map the sandbox's user ids ({exc}); see {DOC}") from exc
    os.kill(proc.pid, signal.SIGCONT)


@contextlib.contextmanager
def mount_point() -> Iterator[str]:
    """A fresh empty folder under ``MOUNT_PARENT`` for one run to mount on, removed after.

    The host never sees the run's files in it: they live in a tmpfs mounted on it inside
    the run's own mount namespace.
    """
    folder = tempfile.mkdtemp(prefix="expertly-python-", dir=MOUNT_PARENT)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


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
    try:
        with mount_point() as host_dir:
            proc = spawn(
                host_dir,
                [*interpreter(), "-c", "pass"],
                work_bytes=1024 * 1024,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
            )
            _, errors = proc.communicate(timeout=30)
    except ToolError as exc:
        return Isolation((f"the sandbox's user ids ({exc})",))
    if proc.returncode != 0:
        return Isolation(
            (
                "the sandbox's set-up (the tmpfs mount or bubblewrap) "
                f"(it failed here: {_first_line(errors)})",
            )
        )
    return Isolation()
