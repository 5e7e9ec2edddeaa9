"""Milvus boolean filter expressions, the subset the faiss backend evaluates itself.

The stores take Milvus's syntax (``"n_objects <= 2 and split == 'test'"``). Milvus evaluates it
server-side; the faiss backend parses this documented subset and evaluates it over its scalar
columns with numpy, giving one boolean per stored item:

- comparisons of a field with a literal: ``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, either way
  round (``2 >= n_objects``); a bool field alone (``has_red``) means ``has_red == true``;
- membership: ``field in [v1, v2, ...]`` and ``field not in [...]``;
- ``and`` / ``&&``, ``or`` / ``||``, ``not`` / ``!``, parentheses (``not`` binds tightest, then
  ``and``, then ``or``);
- literals: integers, floats, strings in single or double quotes, ``true`` / ``false``.

Anything else Milvus knows (``like``, arithmetic, ``array_contains(...)``, JSON paths, ``is null``,
comparing two fields, chained ranges ``1 < x < 3``, which Milvus Lite rejects) is rejected with a ``ValueError`` that names what was found and where, so
an expression never means something different on the two backends. Field names are checked
against the store's columns (``id`` is always there) and literal types against column types.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

__all__ = ["parse_filter", "Filter", "SUPPORTED", "KINDS"]

#: a one-line reminder of the subset, appended to error messages
SUPPORTED = ("comparisons (== != < <= > >=), `in [...]` / `not in [...]`, bool fields alone, "
             "and / or / not (&& || !), parentheses; literals: numbers, 'strings', true / false")
#: column kinds a filter can compare: Python type of the literals each accepts
KINDS = {"int": (int, float), "float": (int, float), "bool": (bool,), "str": (str,)}

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<number>(?:\d+\.\d*|\.\d+|\d+)(?:[eE][+-]?\d+)?)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<name>[A-Za-z_$][A-Za-z0-9_]*)
  | (?P<op>==|!=|<=|>=|&&|\|\||\*\*|[<>!()\[\],+\-*/%=.{}&|^~:])
""", re.VERBOSE)
_KEYWORDS = {"and", "or", "not", "in", "true", "false", "like", "is", "null", "exists"}
_CMP = ("==", "!=", "<", "<=", ">", ">=")
_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}


@dataclass(frozen=True)
class _Tok:
    kind: str       # "number" | "string" | "name" | "kw" | "op" | "end"
    text: str
    pos: int
    value: object = None


def _keyword(word: str) -> str | None:
    """``and`` / ``AND`` / ``True``... → the lower-case keyword; other names → None."""
    low = word.lower()
    if low in _KEYWORDS and word in (low, low.upper(), low.capitalize()):
        return low
    return None


def _unescape(body: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), body)


def _tokenize(expr: str) -> list[_Tok]:
    tokens, pos = [], 0
    while pos < len(expr):
        m = _TOKEN.match(expr, pos)
        if m is None:
            raise _error(expr, pos, "a field, a literal or an operator", repr(expr[pos]))
        kind, text = m.lastgroup, m.group()
        if kind == "number":
            value = float(text) if any(c in text for c in ".eE") else int(text)
            tokens.append(_Tok("number", text, pos, value))
        elif kind == "string":
            tokens.append(_Tok("string", text, pos, _unescape(text[1:-1])))
        elif kind == "name":
            kw = _keyword(text)
            if kw in ("true", "false"):
                tokens.append(_Tok("bool", text, pos, kw == "true"))
            elif kw is not None:
                tokens.append(_Tok("kw", kw, pos))
            else:
                tokens.append(_Tok("name", text, pos))
        elif kind == "op":
            tokens.append(_Tok("op", text, pos))
        pos = m.end()
    tokens.append(_Tok("end", "end of expression", len(expr)))
    return tokens


def _error(expr: str, pos: int, expected: str, got: str) -> ValueError:
    return ValueError(f"filter: expected {expected}, got {got} at position {pos} in {expr!r} "
                      f"(the faiss backend evaluates Milvus's {SUPPORTED})")


class _Parser:
    """Recursive descent over the tokens; builds nested tuples (the AST)."""

    def __init__(self, expr: str, schema: dict):
        self.expr, self.schema = expr, schema
        self.tokens, self.i = _tokenize(expr), 0

    @property
    def tok(self) -> _Tok:
        return self.tokens[self.i]

    def take(self) -> _Tok:
        tok = self.tokens[self.i]
        self.i += 1
        return tok

    def fail(self, expected: str, tok: _Tok | None = None):
        tok = tok or self.tok
        got = "the end of the expression" if tok.kind == "end" else repr(tok.text)
        raise _error(self.expr, tok.pos, expected, got)

    def is_op(self, *texts) -> bool:
        return self.tok.kind == "op" and self.tok.text in texts

    def is_kw(self, *words) -> bool:
        return self.tok.kind == "kw" and self.tok.text in words

    # ---------------------------------------------------------------- grammar
    def parse(self):
        if self.tok.kind == "end":
            self.fail("a boolean expression (use filter=None for no filter)")
        node = self.parse_or()
        if self.tok.kind != "end":
            self.fail("'and', 'or' or the end of the expression")
        return node

    def parse_or(self):
        node = self.parse_and()
        while self.is_kw("or") or self.is_op("||"):
            self.take()
            node = ("or", node, self.parse_and())
        return node

    def parse_and(self):
        node = self.parse_not()
        while self.is_kw("and") or self.is_op("&&"):
            self.take()
            node = ("and", node, self.parse_not())
        return node

    def parse_not(self):
        if self.is_kw("not") or self.is_op("!"):     # 'x not in [...]' is read in the predicate
            self.take()
            return ("not", self.parse_not())
        return self.parse_primary()

    def parse_primary(self):
        if self.is_op("("):
            self.take()
            node = self.parse_or()
            if not self.is_op(")"):
                self.fail("')'")
            self.take()
            return node
        return self.parse_predicate()

    def operand(self):
        """('field', name, tok) or ('value', python value, tok)."""
        tok = self.tok
        if tok.kind == "name":
            self.take()
            if self.is_op("("):
                self.fail(f"a comparison (function calls such as {tok.text}(...) are not in the "
                          f"faiss backend's subset)")
            if self.is_op("[", "."):
                self.fail("a comparison (JSON paths and array indexing are not in the faiss "
                          "backend's subset)")
            return ("field", tok.text, tok)
        if self.is_op("-"):
            self.take()
            num = self.tok
            if num.kind != "number":
                self.fail("a number after '-'")
            self.take()
            return ("value", -num.value, tok)
        if tok.kind in ("number", "string", "bool"):
            self.take()
            return ("value", tok.value, tok)
        if self.is_op("["):
            self.fail("a field or a single literal (a list goes after 'in')")
        self.fail("a field name or a literal")

    def check_arithmetic(self):
        if self.is_op("+", "-", "*", "/", "%", "**"):
            self.fail("a comparison operator (arithmetic is not in the faiss backend's subset)")
        if self.is_op("="):
            self.fail("'==' (Milvus compares with '==', not '=')")
        if self.is_kw("like", "is"):
            self.fail(f"a comparison operator ('{self.tok.text}' is not in the faiss backend's subset)")

    def parse_predicate(self):
        left = self.operand()
        self.check_arithmetic()
        negated = False
        if self.is_kw("not"):
            self.take()
            if not self.is_kw("in"):
                self.fail("'in' after 'not' (as in: field not in [...])")
            negated = True
        if self.is_kw("in"):
            self.take()
            if left[0] != "field":
                self.fail("a field before 'in'", left[2])
            return ("in", self.field(left), self.parse_list(left), negated)
        if not (self.tok.kind == "op" and self.tok.text in _CMP):
            if left[0] == "field" and self.schema.get(left[1]) == "bool":   # 'has_red' alone
                return ("cmp", self.field(left), "==", True)
            if left[0] == "field":
                self.field(left)
                self.fail(f"a comparison after the field {left[1]!r} (e.g. {left[1]} == ...)")
            self.fail("a comparison operator")
        op = self.take().text
        right = self.operand()
        self.check_arithmetic()
        if self.tok.kind == "op" and self.tok.text in _CMP:
            self.fail("'and' between two comparisons (write 1 < x and x < 3: chained ranges are "
                      "not in the subset, and Milvus Lite rejects them)")
        if left[0] == "field" and right[0] == "value":
            field = self.field(left)
            return ("cmp", field, op, self.literal(field, right, op))
        if left[0] == "value" and right[0] == "field":
            field = self.field(right)
            return ("cmp", field, _FLIP[op], self.literal(field, left, op))
        if left[0] == "field":
            self.fail("a literal on one side (comparing two fields is not in the faiss backend's "
                      "subset)", right[2])
        self.fail("a field on one side of the comparison", left[2])

    def parse_list(self, left):
        if not self.is_op("["):
            self.fail("a list '[...]' after 'in'")
        self.take()
        field, values = left[1], []
        while not self.is_op("]"):
            item = self.operand()
            if item[0] != "value":
                self.fail("literals in the list", item[2])
            values.append(self.literal(field, item))
            if self.is_op(","):
                self.take()
            elif not self.is_op("]"):
                self.fail("',' or ']'")
        self.take()
        return tuple(values)

    # ---------------------------------------------------------------- types
    def field(self, operand) -> str:
        name = operand[1]
        if name not in self.schema:
            raise _error(self.expr, operand[2].pos, f"a field of the store, one of {sorted(self.schema)}",
                         repr(name))
        return name

    def literal(self, field: str, operand, op: str = "=="):
        kind, value, tok = self.schema[field], operand[1], operand[2]
        if isinstance(value, bool) != (kind == "bool") or not isinstance(value, KINDS[kind]):
            raise _error(self.expr, tok.pos, f"a {kind} literal to compare with the {kind} field "
                         f"{field!r}", f"{tok.text!r}")
        if kind == "bool" and op not in ("==", "!="):
            raise _error(self.expr, tok.pos, f"'==' or '!=' for the bool field {field!r}", repr(op))
        return value


def _evaluate(node, columns: dict, n: int) -> np.ndarray:
    kind = node[0]
    if kind == "and":
        return _evaluate(node[1], columns, n) & _evaluate(node[2], columns, n)
    if kind == "or":
        return _evaluate(node[1], columns, n) | _evaluate(node[2], columns, n)
    if kind == "not":
        return ~_evaluate(node[1], columns, n)
    col = columns[node[1]]
    if kind == "in":
        hit = np.isin(col, np.asarray(node[2])) if node[2] else np.zeros(n, bool)
        return ~hit if node[3] else hit
    op, value = node[2], node[3]
    return {"==": np.equal, "!=": np.not_equal, "<": np.less, "<=": np.less_equal,
            ">": np.greater, ">=": np.greater_equal}[op](col, value)


class Filter:
    """A parsed expression: ``mask(columns)`` → bool (n,), True where an item satisfies it."""

    def __init__(self, expr: str, tree):
        self.expr, self.tree = expr, tree

    def __repr__(self) -> str:
        return f"Filter({self.expr!r})"

    @property
    def fields(self) -> set:
        """The field names the expression reads."""
        out, stack = set(), [self.tree]
        while stack:
            node = stack.pop()
            if node[0] in ("and", "or"):
                stack += [node[1], node[2]]
            elif node[0] == "not":
                stack.append(node[1])
            else:
                out.add(node[1])
        return out

    def mask(self, columns: dict) -> np.ndarray:
        """One bool per row of ``columns`` ({name: array (n,)}, every field read included)."""
        n = len(next(iter(columns.values()))) if columns else 0
        missing = sorted(self.fields - set(columns))
        if missing:
            raise ValueError(f"columns: expected the fields {sorted(self.fields)}, got no {missing}")
        return np.asarray(_evaluate(self.tree, columns, n), dtype=bool)


def parse_filter(expr, schema: dict) -> Filter:
    """Parse ``expr`` against ``schema`` ({field: "int" | "float" | "bool" | "str"}).

    Raises ValueError naming the position and what was expected for a malformed expression, an
    unknown field, a literal of the wrong type, or anything outside the subset above.
    """
    if not isinstance(expr, str):
        raise ValueError(f"filter: expected a Milvus boolean expression (str) or None, got "
                         f"{type(expr).__name__}")
    return Filter(expr, _Parser(expr, dict(schema)).parse())
