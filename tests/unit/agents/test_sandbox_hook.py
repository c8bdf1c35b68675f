"""The python tool's audit hook, inspected without running it (the process tests are in
tests/integration/test_agent_tools_python.py)."""

from __future__ import annotations

import dis
import types

import pytest

from expertly.agents.tools import _sandbox_child
from expertly.agents.tools.base import ToolError
from expertly.agents.tools.sandbox import PythonSandbox
from expertly.errors import ConfigError


def _nested_functions(code: types.CodeType) -> dict[str, types.CodeType]:
    return {c.co_name: c for c in code.co_consts if isinstance(c, types.CodeType)}


def test_hook_looks_up_no_global_and_holds_no_closure() -> None:
    """Rebinding a builtin or a module attribute in the sandbox cannot change the checks."""
    nested = _nested_functions(_sandbox_child.install.__code__)
    assert {"hook", "check", "resolve"} <= set(nested)
    for name in ("hook", "check", "resolve"):
        code = nested[name]
        ops = {i.opname for i in dis.get_instructions(code)}
        assert not ops & {"LOAD_GLOBAL", "LOAD_NAME", "LOAD_DEREF", "LOAD_CLOSURE"}, name
        assert code.co_freevars == () and code.co_cellvars == (), name
        assert not any(isinstance(c, types.CodeType) for c in code.co_consts), name


def test_bad_settings_and_arguments() -> None:
    with pytest.raises(ConfigError, match=r"agent\.python_memory_mb"):
        PythonSandbox(memory_mb=8)
    with pytest.raises(ConfigError, match=r"agent\.python_timeout_s"):
        PythonSandbox(timeout_s=0)
    with pytest.raises(ToolError, match="empty"):
        PythonSandbox().run(code="   ")
    with pytest.raises(ToolError, match="longer than"):
        PythonSandbox().run(code="x = 1\n" * 20_000)
