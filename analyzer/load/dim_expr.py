"""Symbolic input dims as exporters write them: a name ("sequence_length") or an arithmetic expression of names
("past_sequence_length + sequence_length", as Hugging Face optimum names an attention mask's length; torch's
dynamo exporter writes "s0 + s1" or "2*s3"). Evaluated safely (integers, + - * // %, parentheses), never
with eval()."""

from __future__ import annotations

import ast
import re

_NAME = re.compile(r"^[A-Za-z_][\w.\-:]*$")
_ALLOWED = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Name, ast.Constant, ast.Load, ast.Add, ast.Sub, ast.Mult,
            ast.FloorDiv, ast.Mod, ast.USub)


def _expression(text: str) -> ast.expr | None:
    """The parsed expression when `text` is integer arithmetic over names, else None (then it is a name)."""
    if _NAME.match(text) or len(text) > 200:
        return None
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError):
        return None
    if not all(isinstance(n, _ALLOWED) for n in ast.walk(tree)):
        return None
    return tree.body


def names(text: str) -> set[str]:
    """The dim names a dim_param mentions: itself when it is a name (with whatever characters exporters use)."""
    tree = _expression(text)
    if tree is None:
        return {text}
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}


def evaluate(text: str, dims: dict[str, int]) -> int | None:
    """The dim's value under the bindings, or None when a name is unbound."""
    if text in dims:
        return dims[text]
    tree = _expression(text)
    if tree is None:
        return None
    try:
        value = _eval(tree, dims)
    except (KeyError, ValueError, ZeroDivisionError):
        return None
    return value if value >= 0 else None


def _eval(node: ast.expr, dims: dict[str, int]) -> int:
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
        return node.value
    if isinstance(node, ast.Name):
        return dims[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_eval(node.operand, dims)
    if isinstance(node, ast.BinOp):
        a, b = _eval(node.left, dims), _eval(node.right, dims)
        ops = {ast.Add: lambda: a + b, ast.Sub: lambda: a - b, ast.Mult: lambda: a * b,
               ast.FloorDiv: lambda: a // b, ast.Mod: lambda: a % b}
        for kind, fn in ops.items():
            if isinstance(node.op, kind):
                return fn()
    raise ValueError("not integer arithmetic")
