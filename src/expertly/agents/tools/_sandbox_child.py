"""The first code the ``python`` tool's child process runs: it locks the interpreter down.

Run as a script (``python -I _sandbox_child.py TMPDIR``), never imported. It reads the
agent's code from stdin, installs an audit hook (``sys.addaudithook``; a hook cannot be
removed from Python), then runs the code with TMPDIR as its working directory. The hook
refuses:

* sockets of any kind, subprocesses, ``os.system``, exec, fork, spawn, signals to other
  processes, ctypes and the modules that bypass the audit events (``_posixsubprocess``,
  ``_ctypes``, sub-interpreters), raising resource limits, tracing hooks and ``gc``
  introspection (which could reach the hook itself);
* opening, listing, creating, renaming or deleting anything outside TMPDIR, except reading
  files under the interpreter's own prefixes (so that imports work) and a few device files.

The hook never calls code the agent can change: every function it uses is captured when it
is installed, paths are resolved with ``lstat``/``readlink`` directly, and only ``str``,
``bytes``, ``int`` and pathlib's own path types are accepted as paths.
"""

from __future__ import annotations

import sys
from typing import Any

BLOCKED_EVENT_PREFIXES = (
    "socket.",
    "subprocess.",
    "ctypes.",
    "os.exec",
    "os.fork",
    "os.forkpty",
    "os.posix_spawn",
    "os.spawn",
    "os.system",
    "os.startfile",
    "os.kill",
    "os.killpg",
    "os.link",
    "os.symlink",
    "os.chroot",
    "pty.",
    "resource.setrlimit",
    "resource.prlimit",
    "sys.settrace",
    "sys.setprofile",
    "sys._current_frames",
    "gc.get_",
    "cpython.PyInterpreterState_New",
    "cpython.run_",
    "sqlite3.enable_load_extension",
    "sqlite3.load_extension",
    "_winapi.",
    "winreg.",
)
BLOCKED_MODULES = frozenset(
    {
        "_posixsubprocess",
        "_ctypes",
        "ctypes",
        "_xxsubinterpreters",
        "_xxinterpchannels",
        "_testcapi",
        "_testinternalcapi",
        "_testmultiphase",
    }
)
# event -> (indices of path arguments, indices of dir_fd arguments); all are writes.
WRITE_EVENTS: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "os.remove": ((0,), (1,)),
    "os.rmdir": ((0,), (1,)),
    "os.mkdir": ((0,), (2,)),
    "os.rename": ((0, 1), (2, 3)),
    "os.chmod": ((0,), (2,)),
    "os.chown": ((0,), (3,)),
    "os.truncate": ((0,), ()),
    "os.utime": ((0,), (3,)),
    "os.setxattr": ((0,), ()),
    "os.removexattr": ((0,), ()),
}
READ_DEVICES = ("/dev/null", "/dev/urandom", "/dev/random", "/dev/zero")
WRITE_FLAGS_NAMES = ("O_WRONLY", "O_RDWR", "O_CREAT", "O_APPEND", "O_TRUNC")


def install(root: str) -> None:
    """Install the audit hook that confines this process to ``root`` (see module docstring)."""
    import os
    import pathlib
    import stat

    real = os.path.realpath
    read_roots = tuple(
        {real(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)}
        | {"/usr/share/zoneinfo"}
    )
    root = real(root)
    write_mask = 0
    for name in WRITE_FLAGS_NAMES:
        write_mask |= getattr(os, name, 0)

    # Everything the hook calls, captured now: the agent may rebind builtins and modules.
    _type, _len, _str, _bytes, _int, _tuple = type, len, str, bytes, int, tuple
    _lstat, _readlink, _getcwd, _fsdecode_bytes = os.lstat, os.readlink, os.getcwd, bytes.decode
    _islink, _isdir, _getattribute = stat.S_ISLNK, stat.S_ISDIR, object.__getattribute__
    _path_types = (pathlib.PurePath, pathlib.PurePosixPath, pathlib.Path, pathlib.PosixPath)
    _refuse, _no_module = PermissionError, ImportError
    _prefixes, _modules = BLOCKED_EVENT_PREFIXES, BLOCKED_MODULES
    _write_events, _devices = dict(WRITE_EVENTS), READ_DEVICES
    _fs_encoding = sys.getfilesystemencoding()

    def as_text(path: Any) -> Any:
        """The path as an exact str, or None when it is not a kind of path we can read safely."""
        kind = _type(path)
        if kind is _str:
            return path
        if kind is _bytes:
            return _fsdecode_bytes(path, _fs_encoding, "surrogateescape")
        for path_type in _path_types:
            if kind is path_type:
                try:
                    text = _getattribute(path, "_str")
                except AttributeError:
                    return None
                return text if _type(text) is _str else None
        return None

    def resolve(text: str) -> str:
        """The absolute path with symlinks followed (like realpath, with captured calls only)."""
        if not text.startswith("/"):
            text = _getcwd() + "/" + text
        parts = [p for p in text.split("/") if p and p != "."]
        done: list[str] = []
        hops = 0
        while parts:
            part = parts.pop(0)
            if part == "..":
                if done:
                    done.pop()
                continue
            candidate = "/" + "/".join([*done, part])
            try:
                info = _lstat(candidate)
            except OSError:
                done.append(part)
                continue
            if _islink(info.st_mode):
                hops += 1
                if hops > 40:
                    raise _refuse("too many symbolic links")
                target = _readlink(candidate)
                if target.startswith("/"):
                    done = []
                parts = [p for p in target.split("/") if p and p != "."] + parts
                continue
            done.append(part)
        return "/" + "/".join(done)

    def inside(path: str, base: str) -> bool:
        return path == base or path.startswith(base + "/")

    def check_write(path: Any, event: str) -> None:
        text = as_text(path)
        if text is None:
            raise _refuse(f"{event}: only str paths are allowed in the sandbox")
        if not inside(resolve(text), root):
            raise _refuse(f"{event}: {text!r} is outside the sandbox directory")

    def check_read(path: Any, event: str, allow_dirs: bool) -> None:
        text = as_text(path)
        if text is None:
            raise _refuse(f"{event}: only str paths are allowed in the sandbox")
        full = resolve(text)
        if inside(full, root) or full in _devices:
            return
        for base in read_roots:
            if inside(full, base):
                if not allow_dirs:
                    try:
                        is_dir = _isdir(_lstat(full).st_mode)
                    except OSError:
                        is_dir = False
                    if is_dir:
                        raise _refuse(f"{event}: cannot open directory {text!r} here")
                return
        raise _refuse(f"{event}: {text!r} is outside the sandbox directory")

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event.startswith(_prefixes):
            raise _refuse(f"{event} is not allowed in the sandbox")
        if event == "import":
            if args and args[0] in _modules:
                # ImportError, so that libraries with an optional dependency still import.
                raise _no_module(f"importing {args[0]} is not allowed in the sandbox")
        elif event == "open":
            path, mode, flags = args
            if _type(path) is _int:
                return
            writes = (_type(flags) is _int and flags & write_mask) or (
                _type(mode) is _str and ("w" in mode or "a" in mode or "x" in mode or "+" in mode)
            )
            if writes:
                check_write(path, "open")
            else:
                check_read(path, "open", allow_dirs=False)
        elif event in ("os.listdir", "os.scandir"):
            if args and args[0] is not None and _type(args[0]) is not _int:
                check_read(args[0], event, allow_dirs=True)
        elif event == "os.chdir":
            raise _refuse("changing the working directory is not allowed in the sandbox")
        elif event in _write_events:
            paths, dir_fds = _write_events[event]
            for i in dir_fds:
                if i < _len(args) and args[i] is not None and args[i] != -1:
                    raise _refuse(f"{event}: dir_fd is not allowed in the sandbox")
            for i in paths:
                if i < _len(args):
                    check_write(args[i], event)
        elif event == "sqlite3.connect":
            database = args[0] if args else ":memory:"
            if database not in (":memory:", "", b":memory:", b""):
                check_write(database, event)

    sys.addaudithook(hook)


def main() -> None:
    """Read the code from stdin, lock down, run it; a failure prints a short traceback."""
    import os
    import traceback

    root = sys.argv[1]
    code = sys.stdin.read()
    os.chdir(root)
    try:
        compiled = compile(code, "<python>", "exec")
    except SyntaxError as exc:
        traceback.print_exception(type(exc), exc, None)
        sys.exit(1)
    install(root)
    namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": __builtins__}
    try:
        exec(compiled, namespace)
    except SystemExit:
        raise
    except BaseException as exc:
        sys.stdout.flush()
        report = traceback.TracebackException(type(exc), exc, exc.__traceback__)
        # Frames of this script (the runner and the audit hook) are noise for the agent.
        frames = [f for f in report.stack if f.filename != __file__]
        report.stack = traceback.StackSummary.from_list(frames[-5:])
        sys.stderr.write("".join(report.format()))
        sys.exit(1)


if __name__ == "__main__":
    main()
