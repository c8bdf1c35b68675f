"""The first code the ``python`` tool's child process runs: it locks the interpreter down.

Run as a script inside the operating-system confinement (``isolation.py``: bound read-only
at ``/expertly/sandbox_child.py`` and started as ``python -I -S sandbox_child.py
/sandbox``), never imported. It reads the agent's code from stdin, installs an audit hook
(``sys.addaudithook``; a hook cannot be removed from Python), then runs the code with
``/sandbox`` as its working directory. The hook is the inner layer: it turns the common
attempts into clear Python errors, while the kernel's boundaries hold against code it
cannot see (native code raises no audit events). It refuses:

* sockets of any kind, subprocesses, ``os.system``, exec, fork, spawn, signals to other
  processes, ctypes and the modules that bypass the audit events (``_posixsubprocess``,
  ``_ctypes``, sub-interpreters), raising resource limits, tracing hooks and ``gc``
  introspection (which could reach the hook itself);
* opening, listing, creating, renaming or deleting anything outside TMPDIR, except reading
  files under the interpreter's own prefixes (so that imports work) and a few device files;
* modules whose C code opens files or reaches processes without audit events (sqlite3,
  dbm, pwd/grp, syslog, multiprocessing's semaphores and shared memory), and it removes
  ``os.mkfifo``, ``os.mknod``, ``os.pidfd_open``, ``os.chroot`` and
  ``signal.pidfd_send_signal`` for the same reason.

The hook never calls code the agent can change: every function it uses is captured when it
is installed, paths are resolved with ``lstat``/``readlink`` directly, and only ``str``,
``bytes``, ``int`` and pathlib's own path types are accepted as paths.
"""

from __future__ import annotations

import sys

if __name__ != "__main__":  # annotations only; the child does not pay for importing typing
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
    "pty.",
    "resource.setrlimit",
    "resource.prlimit",
    "sys.settrace",
    "sys.setprofile",
    "sys._current_frames",
    "gc.get_",
    "cpython.PyInterpreterState_New",
    "cpython.run_",
    "sqlite3.",
    "_winapi.",
    "winreg.",
)
# Modules whose C code reaches files, processes or other processes without audit events,
# or that would undo the removals below if imported afresh.
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
        "_sqlite3",
        "_dbm",
        "_gdbm",
        "pwd",
        "grp",
        "spwd",
        "syslog",
        "_multiprocessing",
        "_posixshmem",
        "posix",
        "_signal",
    }
)
# Functions that touch the file system or other processes without raising audit events:
# removed from their modules before the agent's code runs.
UNAUDITED = {
    "posix": ("mkfifo", "mknod", "pidfd_open", "chroot"),
    "os": ("mkfifo", "mknod", "pidfd_open", "chroot"),
    "_signal": ("pidfd_send_signal",),
    "signal": ("pidfd_send_signal",),
}
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
    """Install the audit hook that confines this process to ``root`` (see module docstring).

    The hook and its helpers hold no closures and look up no global or builtin name: all
    they use is bound as default arguments when they are defined, and those are immutable
    (str, tuple, frozenset) or functions whose code and defaults cannot be replaced (the
    hook refuses attribute assignments on them). So code that reaches the hook's
    frame (through a traceback, say) finds nothing it can change, and rebinding builtins or
    module attributes changes nothing in the checks.
    """
    import os
    import stat

    real = os.path.realpath
    read_roots = tuple(
        sorted(
            {real(p) for p in (sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix)}
            | {"/usr/share/zoneinfo"}
        )
    )
    root = real(root)
    write_mask = 0
    for name in WRITE_FLAGS_NAMES:
        write_mask |= getattr(os, name, 0)
    write_events = tuple((event, paths, fds) for event, (paths, fds) in WRITE_EVENTS.items())

    def resolve(
        text: str,
        _getcwd: Any = os.getcwd,
        _lstat: Any = os.lstat,
        _readlink: Any = os.readlink,
        _islink: Any = stat.S_ISLNK,
        _refuse: Any = PermissionError,
        _oserror: Any = OSError,
    ) -> str:
        """The absolute path with symlinks followed, like realpath, from captured calls only."""
        if not text.startswith("/"):
            text = _getcwd() + "/" + text
        parts = text.split("/")
        parts.reverse()
        done: list[str] = []
        hops = 0
        while parts:
            part = parts.pop()
            if part in ("", "."):
                continue
            if part == "..":
                if done:
                    done.pop()
                continue
            candidate = "/" + "/".join(done) + ("/" if done else "") + part
            try:
                mode = _lstat(candidate).st_mode
            except _oserror:
                done.append(part)
                continue
            if _islink(mode):
                hops += 1
                if hops > 40:
                    raise _refuse("too many symbolic links")
                target = _readlink(candidate)
                if target.startswith("/"):
                    done = []
                more = target.split("/")
                more.reverse()
                parts.extend(more)
                continue
            done.append(part)
        return "/" + "/".join(done)

    def check(
        path: Any,
        event: str,
        write: bool,
        _resolve: Any = resolve,
        _root: str = root,
        _read_roots: tuple[str, ...] = read_roots,
        _devices: tuple[str, ...] = READ_DEVICES,
        _type: Any = type,
        _str: Any = str,
        _bytes: Any = bytes,
        _decode: Any = bytes.decode,
        _encoding: str = sys.getfilesystemencoding(),
        _lstat: Any = os.lstat,
        _isdir: Any = stat.S_ISDIR,
        _refuse: Any = PermissionError,
        _oserror: Any = OSError,
    ) -> None:
        """Refuse ``path`` unless it is in the sandbox (or, to read, under a read root)."""
        kind = _type(path)
        if kind is _bytes:
            path = _decode(path, _encoding, "surrogateescape")
        elif kind is not _str:
            # Path objects reach os.* events unconverted; their conversion runs code the
            # agent can change, so only plain strings are trusted.
            raise _refuse(f"{event}: pass paths as str in the sandbox, e.g. str(path)")
        full = _resolve(path)
        if full == _root or full.startswith(_root + "/"):
            return
        if not write:
            if full in _devices:
                return
            for base in _read_roots:
                if full == base or full.startswith(base + "/"):
                    try:
                        is_dir = _isdir(_lstat(full).st_mode)
                    except _oserror:
                        is_dir = False
                    if is_dir and event == "open":
                        raise _refuse(f"{event}: cannot open directory {path!r} here")
                    return
        raise _refuse(f"{event}: {path!r} is outside the sandbox directory")

    def hook(
        event: str,
        args: tuple[Any, ...],
        _check: Any = check,
        _prefixes: tuple[str, ...] = BLOCKED_EVENT_PREFIXES,
        _modules: frozenset[str] = BLOCKED_MODULES,
        _write_events: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...] = write_events,
        _ours: tuple[Any, ...] = (check, resolve),
        _mask: int = write_mask,
        _type: Any = type,
        _str: Any = str,
        _int: Any = int,
        _len: Any = len,
        _refuse: Any = PermissionError,
        _no_module: Any = ImportError,
    ) -> None:
        if event.startswith(_prefixes):
            raise _refuse(f"{event} is not allowed in the sandbox")
        if event == "import":
            name = args[0]
            if _type(name) is not _str or name in _modules:
                # ImportError, so that libraries with an optional dependency still import.
                raise _no_module(f"importing {name} is not allowed in the sandbox")
        elif event == "open":
            path, mode, flags = args
            if _type(path) is _int:
                return
            write = (_type(flags) is _int and flags & _mask != 0) or (
                _type(mode) is _str and ("w" in mode or "a" in mode or "x" in mode or "+" in mode)
            )
            _check(path, "open", write)
        elif event == "os.listdir" or event == "os.scandir":
            if args[0] is not None and _type(args[0]) is not _int:
                _check(args[0], event, False)
        elif event == "os.chdir":
            raise _refuse("changing the working directory is not allowed in the sandbox")
        elif event == "object.__setattr__":
            target = args[0]
            for ours in _ours:
                if target is ours:
                    raise _refuse("changing the sandbox's own functions is not allowed")
        else:
            for write_event, paths, dir_fds in _write_events:
                if event == write_event:
                    for i in dir_fds:
                        if i < _len(args) and args[i] is not None and args[i] != -1:
                            raise _refuse(f"{event}: dir_fd is not allowed in the sandbox")
                    for i in paths:
                        if i < _len(args):
                            _check(args[i], event, True)

    for module_name, names in UNAUDITED.items():
        module = sys.modules.get(module_name)
        if module is None:
            if module_name.startswith("_") or module_name == "posix":
                module = __import__(module_name)  # built in; "signal" and "os" copy from it
            else:
                continue
        for name in names:
            if hasattr(module, name):
                delattr(module, name)
    sys.addaudithook(hook)


def main() -> None:
    """Read the code from stdin, lock down, run it; a failure prints a short traceback."""
    import os

    root = sys.argv[1]
    code = sys.stdin.read()
    os.chdir(root)
    try:
        compiled = compile(code, "<python>", "exec")
    except SyntaxError as exc:
        import traceback

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
        import traceback

        report = traceback.TracebackException(type(exc), exc, exc.__traceback__)
        # Frames of this script (the runner and the audit hook) are noise for the agent.
        frames = [f for f in report.stack if f.filename != __file__]
        report.stack = traceback.StackSummary.from_list(frames[-5:])
        sys.stderr.write("".join(report.format()))
        sys.exit(1)


if __name__ == "__main__":
    main()
