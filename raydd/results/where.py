"""Row filters as data: a small expression language, parsed with `ast`, evaluated over columns.

A filter is a Python-like expression over the result columns, e.g.
`kd and student == 'MLP' and ipc in [1, 10]`. It is parsed, never executed: the parse tree is
walked by `_Evaluator`, which knows only these forms and refuses every other one with an error
naming it (attribute access, calls, subscripts, lambdas, comprehensions, f-strings, walrus,
pandas' `@` names, `**`, ...). A name can only be a column of the frame; nothing is looked up
anywhere else.

| form            | examples                                          |
|-----------------|---------------------------------------------------|
| column          | `kd`, `test_acc`                                  |
| literal         | `10`, `0.5`, `'MLP'`, `True`, `False`, `None`     |
| comparison      | `==`, `!=`, `<`, `<=`, `>`, `>=` (chains too: `1 <= ipc < 10`) |
| membership      | `student in ['MLP', 'LeNet']`, `ipc not in (1, 10)` (literals only) |
| logic           | `and`, `or`, `not`, parentheses                   |
| arithmetic      | `+`, `-`, `*`, `/`, `%` on numbers, unary `-`     |

`== None` / `!= None` test for a missing value (e.g. `teacher == None` for rows without KD).
The boolean `kd` column compares with its words too (`raydd.kd_words`): `kd == 'on'`,
`kd in ['off']`, as with `kd == True`.
"""

from __future__ import annotations

import ast
import operator
import re
from typing import Any

import pandas as pd

from raydd.kd_words import KD_COLUMN, kd_mode

MAX_CHARS = 2_000  # a filter is a line typed by a person; longer text is refused before parsing
MAX_NODES = 500  # bounds the walk (and its recursion) over what a parse of MAX_CHARS can hold

_COMPARE = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
            ast.Gt: operator.gt, ast.GtE: operator.ge}
_ARITHMETIC = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
               ast.Div: operator.truediv, ast.Mod: operator.mod}
_LITERALS = (str, int, float, bool, type(None))
_SYNTAX_WORDS = {  # what a refused node is called in the error
    "Attribute": "attribute access", "Call": "a call", "Subscript": "subscripting",
    "Lambda": "a lambda", "JoinedStr": "an f-string", "NamedExpr": "':='",
    "ListComp": "a comprehension", "SetComp": "a comprehension", "DictComp": "a comprehension",
    "GeneratorExp": "a comprehension", "IfExp": "'... if ... else ...'", "Starred": "'*'",
    "Dict": "a dict", "Set": "a set", "Await": "await", "Yield": "yield", "YieldFrom": "yield",
}


class FilterError(ValueError):
    """A filter that is not in the filter language, or names no column of the rows."""


def where(df: pd.DataFrame, text: str) -> pd.Series:
    """The boolean mask of the rows of `df` that `text` selects (FilterError when it cannot)."""
    tree = _parse(text)
    mask = _Evaluator(df, text).value(tree.body)
    if isinstance(mask, bool):  # a filter over no column: every row or none
        return pd.Series(mask, index=df.index)
    if not isinstance(mask, pd.Series) or not pd.api.types.is_bool_dtype(mask):
        raise FilterError(f"bad filter {text!r}: it gives values, not true/false for each row")
    return mask


def _parse(text: str) -> ast.Expression:
    if not isinstance(text, str) or not text.strip():
        raise FilterError("bad filter: it is empty")
    if len(text) > MAX_CHARS:
        raise FilterError(f"bad filter: {len(text)} characters long; at most {MAX_CHARS} are read")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as err:
        where_at = f" at column {err.offset}" if err.offset else ""
        token = _token_at(text.strip(), err.offset)
        raise FilterError(f"bad filter {text!r}: {err.msg}{where_at}{token}") from None
    except (ValueError, RecursionError, MemoryError) as err:  # null bytes, absurd nesting
        raise FilterError(f"bad filter {text!r}: cannot be parsed ({type(err).__name__})") from None
    count = sum(1 for _ in ast.walk(tree))
    if count > MAX_NODES:
        raise FilterError(f"bad filter: {count} parts; at most {MAX_NODES} are evaluated")
    return tree


def _token_at(text: str, offset: int | None) -> str:
    """` ('and')`: the word or the one symbol where the parser stopped."""
    found = re.match(r"\s*(\w+|\S)", text[offset - 1:]) if offset else None
    return f" ({found.group(1)!r})" if found else ""


class _Evaluator:
    """Walks a parsed filter; every value is a column (Series) or a plain literal."""

    def __init__(self, df: pd.DataFrame, text: str) -> None:
        self.df, self.text = df, text

    def value(self, node: ast.AST) -> Any:
        method = getattr(self, f"_{type(node).__name__}", None)
        if method is None:
            raise self.refuse(node, _SYNTAX_WORDS.get(type(node).__name__, type(node).__name__))
        return method(node)

    def refuse(self, node: ast.AST, what: str) -> FilterError:
        segment = ast.get_source_segment(self.text.strip(), node) or type(node).__name__
        if len(segment) > 40:
            segment = segment[:37] + "..."
        return FilterError(f"bad filter {self.text!r}: {what} is not allowed ({segment!r}); "
                           "filters use columns, literals, comparisons, in, and/or/not and arithmetic")

    def _Name(self, node: ast.Name) -> pd.Series:
        if node.id not in self.df.columns:
            raise FilterError(f"bad filter {self.text!r}: {node.id!r} is not a column; "
                              f"known: {', '.join(map(str, self.df.columns))}")
        return self.df[node.id]

    def _Constant(self, node: ast.Constant) -> Any:
        if not isinstance(node.value, _LITERALS):
            raise self.refuse(node, f"a {type(node.value).__name__} literal")
        return node.value

    def _literal(self, node: ast.AST) -> Any:
        """A literal, or a negated number (`-1` parses as minus applied to 1)."""
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            value = self._literal(node.operand)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return -value
        elif isinstance(node, ast.Constant):
            return self._Constant(node)
        raise self.refuse(node, "an item that is not a literal in a list for 'in'")

    def _BoolOp(self, node: ast.BoolOp) -> Any:
        combine = operator.and_ if isinstance(node.op, ast.And) else operator.or_
        result = self._truth(node.values[0])
        for operand in node.values[1:]:
            result = combine(result, self._truth(operand))
        return result

    def _truth(self, node: ast.AST) -> Any:
        value = self.value(node)
        if isinstance(value, bool) or (isinstance(value, pd.Series) and pd.api.types.is_bool_dtype(value)):
            return value
        segment = ast.get_source_segment(self.text.strip(), node)
        raise FilterError(f"bad filter {self.text!r}: {segment!r} is not true/false; compare it, "
                          f"e.g. {segment} == ...")

    def _UnaryOp(self, node: ast.UnaryOp) -> Any:
        if isinstance(node.op, ast.Not):
            value = self._truth(node.operand)
            return (not value) if isinstance(value, bool) else ~value
        if isinstance(node.op, ast.USub):
            return -self._number(node.operand)
        raise self.refuse(node, f"the operator {type(node.op).__name__}")

    def _number(self, node: ast.AST) -> Any:
        value = self.value(node)
        numeric = (isinstance(value, (int, float)) and not isinstance(value, bool)) or (
            isinstance(value, pd.Series) and pd.api.types.is_numeric_dtype(value)
            and not pd.api.types.is_bool_dtype(value))
        if not numeric:
            raise self.refuse(node, "arithmetic on something that is not a number")
        return value

    def _BinOp(self, node: ast.BinOp) -> Any:
        op = _ARITHMETIC.get(type(node.op))
        if op is None:
            raise self.refuse(node, f"the operator {type(node.op).__name__}")
        left, right = self._number(node.left), self._number(node.right)
        try:
            return op(left, right)
        except ZeroDivisionError:
            raise FilterError(f"bad filter {self.text!r}: division by zero") from None

    def _Compare(self, node: ast.Compare) -> Any:
        result, left_node = None, node.left
        left = self.value(left_node)
        for op, right_node in zip(node.ops, node.comparators):
            if isinstance(op, (ast.In, ast.NotIn)):
                right = self._members(right_node, kd=_is_kd(left_node))
                part = self._membership(left, right, isinstance(op, ast.NotIn), node)
            else:
                right = self._kd_word(self.value(right_node), left_node, right_node)
                left = self._kd_word(left, right_node, left_node)
                part = self._compare(op, left, right, node)
            result = part if result is None else result & part
            left, left_node = right, right_node
        return result

    def _kd_word(self, value: Any, other: ast.AST, node: ast.AST) -> Any:
        """A string compared with the kd column read as a KD word (`'on'` -> True)."""
        if not (_is_kd(other) and isinstance(value, str)):
            return value
        try:
            return kd_mode(value)
        except ValueError:
            raise FilterError(f"bad filter {self.text!r}: kd is 'off' or 'on' (or False/True), "
                              f"not {value!r}") from None

    def _members(self, node: ast.AST, kd: bool = False) -> list:
        if not isinstance(node, (ast.List, ast.Tuple)):
            raise self.refuse(node, "'in' with something other than a list of literals")
        other = ast.Name(id=KD_COLUMN) if kd else node
        return [self._kd_word(self._literal(item), other, item) for item in node.elts]

    def _membership(self, left: Any, members: list, negate: bool, node: ast.AST) -> Any:
        if not isinstance(left, pd.Series):
            raise self.refuse(node, "'in' without a column on its left")
        found = left.isin(members)
        return ~found if negate else found

    def _compare(self, op: ast.cmpop, left: Any, right: Any, node: ast.AST) -> Any:
        for value, other in ((left, right), (right, left)):
            if value is None and isinstance(other, pd.Series) and isinstance(op, (ast.Eq, ast.NotEq)):
                return other.isna() if isinstance(op, ast.Eq) else other.notna()
        if not isinstance(left, pd.Series) and not isinstance(right, pd.Series):
            raise self.refuse(node, "a comparison without a column")
        try:
            return _COMPARE[type(op)](left, right)
        except TypeError as err:
            raise FilterError(f"bad filter {self.text!r}: cannot compare "
                              f"{ast.get_source_segment(self.text.strip(), node)!r}: {err}") from None


def _is_kd(node: ast.AST) -> bool:
    return isinstance(node, ast.Name) and node.id == KD_COLUMN
