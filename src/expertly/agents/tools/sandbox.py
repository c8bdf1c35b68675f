"""``python``: run the agent's code in a confined child process and return what it printed.

Layers, from the kernel up (all required: the tool refuses to run where one is missing):

* **operating-system isolation** (``isolation.py``): a private mount namespace where the
  run's folder is a size-limited ``tmpfs`` mounted ``noexec,nosuid,nodev``; bubblewrap's
  user (uid ``nobody``, no capabilities), PID, network, IPC, UTS and cgroup namespaces
  over a read-only root that holds only ``/usr``, the interpreter and that folder;
  ``no_new_privs``; a seccomp filter (``seccomp.py``) refusing new processes,
  ``memfd_create``, ``ptrace``, mounts and namespaces. Killing bwrap kills everything in
  the PID namespace, so nothing outlives the timeout;
* **resource limits** set before the first program starts: CPU seconds (``RLIMIT_CPU``),
  address space (``RLIMIT_AS`` = ``agent.python_memory_mb``), file size, open files, no
  core dumps;
* **a wall-clock timeout** that kills the child's whole process group;
* **a fresh folder** (``/sandbox`` inside) as working directory, the only place it may
  write, gone with the run; an **empty environment** except ``HOME``/``TMPDIR`` pointing
  there; isolated mode without site-packages (``python -I -S``: the standard library only);
* **an audit hook** installed before the code runs (``_sandbox_child.py``) that refuses
  sockets, subprocesses, exec/fork/spawn, ctypes and file access outside the folder
  (reads under the interpreter's prefix stay allowed so imports work), so that most
  attempts end in a clear Python error rather than at a kernel boundary. ``os``
  functions take str paths only there (``str(path)``): a Path object's conversion runs
  code the program itself could have changed.

stdout and stderr come back together, cut at ``agent.output_chars``. A failing program is
an observation (``ok=False`` with its traceback), not an exception.
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from expertly.agents.tools import isolation
from expertly.agents.tools.base import ToolError, ToolResult, truncate
from expertly.errors import ConfigError

CHILD_SCRIPT = Path(__file__).with_name("_sandbox_child.py")
MAX_CODE_CHARS = 100_000
MAX_FILE_BYTES = 16 * 1024 * 1024
MAX_OPEN_FILES = 64
WORK_FOLDER_BYTES = 64 * 1024 * 1024
STATUS_ROOM = 120
EXIT_GRACE_S = 0.2  # for bwrap to exit after the output ended right at the time limit


def _limit_child(cpu_s: int, memory_bytes: int) -> None:
    """Runs in the child between fork and exec: resource limits for it and all it starts.

    There is no ``RLIMIT_NPROC``: the setup forks (``mount``, bwrap's init) and the kernel
    ignores the limit for root; the seccomp filter refuses new processes instead.
    """
    import resource

    def cap(which: int, value: int) -> None:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(which, (value, value))

    cap(resource.RLIMIT_CPU, cpu_s)
    cap(resource.RLIMIT_AS, memory_bytes)
    cap(resource.RLIMIT_FSIZE, MAX_FILE_BYTES)
    cap(resource.RLIMIT_NOFILE, MAX_OPEN_FILES)
    cap(resource.RLIMIT_CORE, 0)
    # Writing past RLIMIT_FSIZE should fail with an OSError, not kill the child.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


class _Capture:
    """Drains a pipe in a thread, keeping the first ``limit`` bytes and counting the rest."""

    def __init__(self, stream: IO[bytes], limit: int) -> None:
        self.stream = stream
        self.limit = limit
        self.kept = bytearray()
        self.dropped = 0
        self.thread = threading.Thread(target=self._drain, daemon=True)
        self.thread.start()

    def _drain(self) -> None:
        while chunk := self.stream.read1(65536):  # type: ignore[attr-defined]
            room = self.limit - len(self.kept)
            if room > 0:
                self.kept += chunk[:room]
            self.dropped += max(0, len(chunk) - max(room, 0))

    def text(self) -> str:
        self.thread.join(timeout=5)
        return self.kept.decode("utf-8", errors="replace")


PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "code": {
            "type": "string",
            "description": "A Python program; print() what you want to see",
        }
    },
    "required": ["code"],
}


class PythonSandbox:
    """The ``python`` tool."""

    name = "python"
    parameters: Mapping[str, Any] = PARAMETERS

    def __init__(
        self, *, timeout_s: float = 5.0, memory_mb: int = 256, output_chars: int = 4000
    ) -> None:
        if timeout_s <= 0 or memory_mb < 32 or output_chars < 1:
            raise ConfigError(
                "python tool: agent.python_timeout_s must be > 0, agent.python_memory_mb "
                ">= 32 and agent.output_chars >= 1"
            )
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb
        self.output_chars = output_chars
        self.description = (
            "Run a short Python program (standard library only, no network, no files outside "
            f"its own folder, {timeout_s:g} s, {memory_mb} MB) and see what it prints."
        )

    def run(self, **arguments: Any) -> ToolResult:
        return self.run_within(self.timeout_s, **arguments)

    def run_within(self, timeout_s: float, **arguments: Any) -> ToolResult:
        """Run the program for at most the shorter of ``timeout_s`` (the agent's time left)
        and ``agent.python_timeout_s``; at that limit the whole run is killed, so nothing
        keeps running after the agent has moved on (``TimeBounded``)."""
        limit = min(self.timeout_s, timeout_s)
        if limit <= 0:
            raise ToolError("no time is left to run the program (agent.timeout_s)")
        code = str(arguments["code"])
        if not code.strip():
            raise ToolError("the code is empty: write a program that prints its result")
        if len(code) > MAX_CODE_CHARS:
            raise ToolError(f"the code is longer than {MAX_CODE_CHARS:,} characters")
        isolation.probe().require()
        with isolation.mount_point() as workdir:
            return self._run(code, workdir, limit)

    def _run(self, code: str, workdir: str, limit: float) -> ToolResult:
        started = time.perf_counter()
        cpu_s = max(1, math.ceil(limit))
        env = {"LANG": "C.UTF-8", "PATH": "/usr/bin:/bin"}
        proc = isolation.spawn(
            workdir,
            [*isolation.interpreter(), isolation.CHILD_PATH, isolation.WORK_DIR],
            work_bytes=WORK_FOLDER_BYTES,
            ro_binds=[(str(CHILD_SCRIPT), isolation.CHILD_PATH)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            cwd="/",  # the run's own folder is /sandbox inside; nothing here is needed
            env=env,
            start_new_session=True,
            close_fds=True,
            preexec_fn=functools.partial(_limit_child, cpu_s, self.memory_mb * 1024 * 1024),
        )
        assert proc.stdin is not None and proc.stdout is not None
        capture = _Capture(proc.stdout, self.output_chars * 4)
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.write(code.encode("utf-8", errors="surrogatepass"))
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.close()
        timed_out = False
        # The output ends when every process of the run has ended (none can start others),
        # so wait on it rather than on Popen.wait(timeout=...), which polls with sleeps of up
        # to 50 ms; then bwrap's own exit follows at once.
        capture.thread.join(timeout=limit)
        remaining = started + limit - time.perf_counter()
        try:
            proc.wait(timeout=max(remaining, EXIT_GRACE_S))
        except subprocess.TimeoutExpired:
            timed_out = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.kill()  # in case it left its process group
            proc.wait()
        seconds = time.perf_counter() - started
        # Leave room for the cut marker and the status line within output_chars.
        output, cut = truncate(capture.text(), max(1, self.output_chars - STATUS_ROOM))
        if capture.dropped:
            cut = True
            if not output.endswith("]"):
                output += f"\n[... output cut: {capture.dropped:,} more bytes]"
        status = self._status(proc.returncode, timed_out, limit)
        ok = proc.returncode == 0 and not timed_out
        text = output if ok else (output.rstrip() + "\n" + status).strip()
        return ToolResult(
            text or "(the program printed nothing)",
            ok=ok,
            data={"returncode": proc.returncode, "timed_out": timed_out},
            seconds=seconds,
            truncated=cut,
        )

    def _status(self, returncode: int, timed_out: bool, limit: float) -> str:
        if timed_out:
            return f"[stopped: the program ran longer than {limit:g} s]"
        # bwrap reports a child killed by a signal as 128 + the signal's number
        cpu_kills = (signal.SIGXCPU, signal.SIGKILL)
        if returncode in (*(-n for n in cpu_kills), *(128 + n for n in cpu_kills)):
            return f"[stopped: the program used more than {math.ceil(limit)} s of CPU]"
        if returncode < 0:
            return f"[stopped by signal {signal.Signals(-returncode).name}]"
        return f"[exit code {returncode}]"
