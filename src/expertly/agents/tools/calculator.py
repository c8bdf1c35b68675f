"""``calculator``: arithmetic for the agent, evaluated by walking a Python ``ast`` (never eval).

Small models get arithmetic wrong; a tool that computes exactly is cheap. What it accepts:

* numbers (``12``, ``3.5``, ``1e6``), ``+ - * / // % **``, unary ``+``/``-``, parentheses;
* ``^`` as a power (``2^10``), ``×`` and ``÷`` as ``*`` and ``/``;
* percentages: ``15% of 200`` (= 30) and a trailing ``15%`` (= 0.15);
* functions sqrt, log (natural, or ``log(x, base)``), log10, exp, sin, cos, tan, abs,
  round, min, max, floor, ceil; constants pi and e.

Anything else (names, attributes, strings, comparisons, calls of other functions) is refused
before evaluation. Every operation's cost is bounded before it runs, because one big-integer
operation holds the interpreter until it ends and no deadline can stop it: every value is
at most 1e308 in size (so integers have at most 1,024 bits), a power whose result would be
larger (``9**9**9``, ``10**10**10``) is refused from the logarithm of its size, and
``round``'s digit count must lie within ±``MAX_ROUND_DIGITS`` (``round(5, -10**9)`` would
otherwise build 10**(10**9)). Complex results are refused too.
"""

from __future__ import annotations

import ast
import math
import operator
import re
from collections.abc import Callable, Mapping
from typing import Any

from expertly.agents.tools.base import ToolError, ToolResult

MAX_EXPRESSION_CHARS = 500
MAX_NODES = 200
MAX_MAGNITUDE = 1e308
MAX_ROUND_DIGITS = 400  # past ±309 digits the result no longer changes

Number = int | float

_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "sqrt": math.sqrt,
    "log": math.log,
    "log10": math.log10,
    "exp": math.exp,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "abs": abs,
    "round": round,
    "min": min,
    "max": max,
    "floor": math.floor,
    "ceil": math.ceil,
}
_CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}

_NUMBER = r"(\d+(?:\.\d*)?|\.\d+)"
_PERCENT_OF = re.compile(_NUMBER + r"\s*%\s*of\b", re.IGNORECASE)
_PERCENT_END = re.compile(_NUMBER + r"\s*%\s*$")


def normalise(expression: str) -> str:
    """Rewrite the accepted conveniences (``^``, ``×``, ``÷``, percentages) as Python syntax."""
    text = expression.strip().replace("×", "*").replace("÷", "/").replace("^", "**")
    text = _PERCENT_OF.sub(r"(\1/100)*", text)
    return _PERCENT_END.sub(r"(\1/100)", text)


def _check(value: Any) -> Number:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ToolError(f"the result {value!r} is not a real number")
    if isinstance(value, float) and not math.isfinite(value):
        raise ToolError("the result is not finite (overflow or an undefined operation)")
    if abs(value) > MAX_MAGNITUDE:
        raise ToolError(f"the result is larger than {MAX_MAGNITUDE:g}")
    return value


def _power(base: Number, exponent: Number) -> Number:
    """``base ** exponent``, refused up front when the result would be too large."""
    if abs(base) > 1 and exponent > 0:
        # log10 of the result; computing it costs nothing even for 9**9**9.
        digits = exponent * math.log10(abs(base))
        if digits > math.log10(MAX_MAGNITUDE):
            raise ToolError(
                f"{_short(base)}**{_short(exponent)} would have about {digits:.3g} digits; "
                f"the limit is {MAX_MAGNITUDE:g}"
            )
    if base == 0 and exponent < 0:
        raise ToolError("division by zero (0 to a negative power)")
    return _check(base**exponent)


def _short(value: Number) -> str:
    """A number for an error message: exact when short, else in scientific notation."""
    text = str(value)
    return text if len(text) <= 20 else format(float(value), ".6g")


def _check_round_digits(digits: Number) -> None:
    """Refuse a ``round`` digit count that is not a whole number within ±MAX_ROUND_DIGITS."""
    if not isinstance(digits, int):
        raise ToolError(f"round(x, n): n must be a whole number, got {digits!r}")
    if abs(digits) > MAX_ROUND_DIGITS:
        raise ToolError(
            f"round(x, {digits}): n must lie between -{MAX_ROUND_DIGITS} and "
            f"{MAX_ROUND_DIGITS} (values are at most {MAX_MAGNITUDE:g})"
        )


class _Evaluator:
    def __init__(self) -> None:
        self.nodes = 0

    def eval(self, node: ast.AST) -> Number:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ToolError(f"the expression is too long (more than {MAX_NODES} parts)")
        if isinstance(node, ast.Expression):
            return self.eval(node.body)
        if isinstance(node, ast.Constant):
            return _check(node.value)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
            left, right = self.eval(node.left), self.eval(node.right)
            if isinstance(node.op, ast.Pow):
                return _power(left, right)
            if isinstance(node.op, ast.Div | ast.FloorDiv | ast.Mod) and right == 0:
                raise ToolError("division by zero")
            return _check(_BINARY[type(node.op)](left, right))
        if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
            return _check(_UNARY[type(node.op)](self.eval(node.operand)))
        if isinstance(node, ast.Name):
            if node.id in _CONSTANTS:
                return _CONSTANTS[node.id]
            raise ToolError(
                f"unknown name {node.id!r}; constants: {', '.join(_CONSTANTS)}; "
                f"functions: {', '.join(_FUNCTIONS)}"
            )
        if isinstance(node, ast.Call):
            return self._call(node)
        raise ToolError(
            f"{type(node).__name__} is not allowed: use numbers, + - * / // % ** ^, "
            f"parentheses and {', '.join(_FUNCTIONS)}"
        )

    def _call(self, node: ast.Call) -> Number:
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name not in _FUNCTIONS:
            raise ToolError(
                f"unknown function {ast.unparse(node.func)!r}; allowed: {', '.join(_FUNCTIONS)}"
            )
        if node.keywords:
            raise ToolError(f"{name}() takes positional arguments only")
        args = [self.eval(a) for a in node.args]
        if name == "round" and len(args) == 2:
            _check_round_digits(args[1])
        try:
            return _check(_FUNCTIONS[name](*args))
        except (ValueError, TypeError, OverflowError) as exc:
            raise ToolError(f"{name}({', '.join(map(_short, args))}): {exc}") from None


def evaluate(expression: str) -> Number:
    """The value of ``expression``; ``ToolError`` says what is wrong when it cannot be computed."""
    if not expression.strip():
        raise ToolError("the expression is empty")
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise ToolError(f"the expression is longer than {MAX_EXPRESSION_CHARS} characters")
    text = normalise(expression)
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ToolError(f"cannot parse {expression!r}: {exc.msg}") from None
    except ValueError as exc:  # e.g. lone surrogates, which cannot be encoded
        raise ToolError(f"cannot parse {expression!r}: {exc}") from None
    try:
        return _Evaluator().eval(tree)
    except ZeroDivisionError:
        raise ToolError("division by zero") from None
    except OverflowError:
        raise ToolError(f"cannot compute {expression!r}: the result is too large") from None
    except ValueError as exc:
        raise ToolError(f"cannot compute {expression!r}: {exc}") from None


def format_number(value: Number) -> str:
    """A result as the model should read it: integers exact, floats to 12 significant digits."""
    if isinstance(value, int):
        return str(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return format(value, ".12g")


PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {"expression": {"type": "string", "description": "The expression to compute"}},
    "required": ["expression"],
}


class Calculator:
    """The ``calculator`` tool."""

    name = "calculator"
    description = (
        "Evaluate an arithmetic expression exactly, e.g. '(149 - 89) * 12', '15% of 200', "
        "'sqrt(2)', '2^10'. Functions: " + ", ".join(_FUNCTIONS) + "; constants pi, e."
    )
    parameters: Mapping[str, Any] = PARAMETERS

    def run(self, **arguments: Any) -> ToolResult:
        expression = str(arguments["expression"])
        value = evaluate(expression)
        return ToolResult(format_number(value), data=value)
