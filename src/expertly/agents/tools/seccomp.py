"""A seccomp filter for the ``python`` tool's child, written as classic BPF by hand.

The filter is loaded by bubblewrap (``bwrap --seccomp FD``) just before it starts the
interpreter, and it stays for the life of the process and anything it starts. It refuses
(``EPERM``) what a confined program never needs and what an escape would use:

* new processes: ``fork``, ``vfork``, ``clone`` without ``CLONE_THREAD`` (threads still
  work); ``clone3`` answers ``ENOSYS`` so that the C library falls back to ``clone``,
  whose flags the filter can read;
* executable memory without a file on a ``noexec`` mount: ``memfd_create``,
  ``memfd_secret``;
* other processes' memory and the kernel's attack surface: ``ptrace``,
  ``process_vm_readv``/``writev``, keyrings, ``bpf``, ``perf_event_open``,
  ``userfaultfd``, ``io_uring``, file handles, ``personality``;
* namespaces and mounts: ``unshare``, ``setns``, ``mount`` and the new mount API,
  ``pivot_root``, ``chroot``, and the administrator's calls (modules, kexec, reboot,
  swap, ``acct``, ``quotactl``).

A system call made with another architecture's convention (32-bit calls on x86-64, x32)
kills the process: the numbers below would not mean the same calls there. No dependency
(libseccomp) is needed: the program is a list of 8-byte instructions.
"""

from __future__ import annotations

import errno
import platform
import struct

# Classic BPF opcodes and seccomp return values (linux/filter.h, linux/seccomp.h).
_LOAD_WORD = 0x20  # BPF_LD | BPF_W | BPF_ABS
_JUMP_EQUAL = 0x15  # BPF_JMP | BPF_JEQ | BPF_K
_JUMP_GREATER_EQUAL = 0x35  # BPF_JMP | BPF_JGE | BPF_K
_JUMP_BITS_SET = 0x45  # BPF_JMP | BPF_JSET | BPF_K
_RETURN = 0x06  # BPF_RET | BPF_K
_ALLOW = 0x7FFF0000
_KILL_PROCESS = 0x80000000
_ERRNO = 0x00050000
_CLONE_THREAD = 0x00010000
_X32_BIT = 0x40000000
# Offsets in struct seccomp_data: nr, arch, instruction pointer, args[6] (64-bit each).
_NR, _ARCH, _ARG0_LOW = 0, 4, 16

# System call numbers: name -> (x86_64, aarch64); None where the call does not exist.
_NUMBERS: dict[str, tuple[int | None, int | None]] = {
    "clone": (56, 220),
    "clone3": (435, 435),
    "fork": (57, None),
    "vfork": (58, None),
    "memfd_create": (319, 279),
    "memfd_secret": (447, 447),
    "ptrace": (101, 117),
    "process_vm_readv": (310, 270),
    "process_vm_writev": (311, 271),
    "keyctl": (250, 219),
    "add_key": (248, 217),
    "request_key": (249, 218),
    "bpf": (321, 280),
    "perf_event_open": (298, 241),
    "userfaultfd": (323, 282),
    "io_uring_setup": (425, 425),
    "io_uring_enter": (426, 426),
    "io_uring_register": (427, 427),
    "open_by_handle_at": (304, 265),
    "name_to_handle_at": (303, 264),
    "personality": (135, 92),
    "unshare": (272, 97),
    "setns": (308, 268),
    "mount": (165, 40),
    "umount2": (166, 39),
    "pivot_root": (155, 41),
    "chroot": (161, 51),
    "fsopen": (430, 430),
    "fsconfig": (431, 431),
    "fsmount": (432, 432),
    "fspick": (433, 433),
    "open_tree": (428, 428),
    "move_mount": (429, 429),
    "mount_setattr": (442, 442),
    "kexec_load": (246, 104),
    "kexec_file_load": (320, 294),
    "init_module": (175, 105),
    "finit_module": (313, 273),
    "delete_module": (176, 106),
    "reboot": (169, 142),
    "swapon": (167, 224),
    "swapoff": (168, 225),
    "acct": (163, 89),
    "quotactl": (179, 60),
}
# Refused with EPERM: all the above but clone (allowed for threads) and clone3 (ENOSYS).
REFUSED = tuple(name for name in _NUMBERS if name not in ("clone", "clone3"))
# machine -> (AUDIT_ARCH_* value, index in _NUMBERS' pairs)
_MACHINES = {"x86_64": (0xC000003E, 0), "aarch64": (0xC00000B7, 1)}
SUPPORTED_MACHINES = tuple(_MACHINES)


def _op(code: int, k: int, jump_true: int = 0, jump_false: int = 0) -> bytes:
    return struct.pack("=HBBI", code, jump_true, jump_false, k)


def filter_program(machine: str | None = None) -> bytes:
    """The filter for ``machine`` (default: this one) as bytes for ``bwrap --seccomp``.

    Raises ``ValueError`` for an architecture whose system call numbers are not listed here.
    """
    machine = machine or platform.machine()
    if machine not in _MACHINES:
        raise ValueError(
            f"no seccomp filter for the {machine} architecture (supported: "
            f"{', '.join(SUPPORTED_MACHINES)})"
        )
    arch, column = _MACHINES[machine]
    numbers: dict[str, int] = {}
    for name, pair in _NUMBERS.items():
        number = pair[column]
        if number is not None:
            numbers[name] = number
    refused = _ERRNO | errno.EPERM
    program = [
        _op(_LOAD_WORD, _ARCH),
        _op(_JUMP_EQUAL, arch, 1, 0),
        _op(_RETURN, _KILL_PROCESS),
        _op(_LOAD_WORD, _NR),
    ]
    if machine == "x86_64":  # x32 calls carry bit 30 in the number
        program += [_op(_JUMP_GREATER_EQUAL, _X32_BIT, 0, 1), _op(_RETURN, _KILL_PROCESS)]
    for name in REFUSED:
        if name in numbers:
            program += [_op(_JUMP_EQUAL, numbers[name], 0, 1), _op(_RETURN, refused)]
    program += [
        _op(_JUMP_EQUAL, numbers["clone3"], 0, 1),
        _op(_RETURN, _ERRNO | errno.ENOSYS),
        _op(_JUMP_EQUAL, numbers["clone"], 0, 3),
        _op(_LOAD_WORD, _ARG0_LOW),  # clone's flags are its first argument on both
        _op(_JUMP_BITS_SET, _CLONE_THREAD, 1, 0),
        _op(_RETURN, refused),
        _op(_RETURN, _ALLOW),
    ]
    return b"".join(program)
