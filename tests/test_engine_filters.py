"""mmcourse.engine.filters: the Milvus boolean-expression subset, against hand-made cases, a Python
evaluation of random expressions (hypothesis), and Milvus Lite itself (slow)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmcourse.engine.filters import parse_filter

SCHEMA = {"id": "int", "n_objects": "int", "split": "str", "red": "bool", "x": "float"}
COLS = {"id": np.arange(8), "n_objects": np.array([1, 2, 3, 1, 2, 3, 1, 2]),
        "split": np.array(["train", "test", "val", "train", "test", "val", "train", "test"]),
        "red": np.array([True, False, True, False, True, False, True, False]),
        "x": np.linspace(0.0, 0.7, 8)}


def ids_where(expr):
    return np.flatnonzero(parse_filter(expr, SCHEMA).mask(COLS)).tolist()


@pytest.mark.parametrize("expr, want", [
    ("n_objects <= 2", [0, 1, 3, 4, 6, 7]),
    ("2 >= n_objects", [0, 1, 3, 4, 6, 7]),
    ("n_objects == 2 and split == 'test'", [1, 4, 7]),
    ('split == "val" or red == true', [0, 2, 4, 5, 6]),
    ("red", [0, 2, 4, 6]),
    ("not red", [1, 3, 5, 7]),
    ("!(red == True) && split in ['train']", [3]),
    ("n_objects in [1, 3]", [0, 2, 3, 5, 6]),
    ("n_objects not in [1, 3]", [1, 4, 7]),
    ("NOT (n_objects == 1) AND x > 0.45", [5, 7]),
    ("n_objects < 2 or n_objects > 2 and red == false", [0, 3, 5, 6]),   # and binds tighter
    ("x >= -1 and x < 5e-2", [0]),
    ("n_objects in [2.5]", []),
    ("id in [] or id == 7", [7]),
    ("split > 'train'", [2, 5]),
])
def test_expressions_select_the_right_rows(expr, want):
    assert ids_where(expr) == want


@pytest.mark.parametrize("expr, words", [
    ("", ["filter", "boolean expression"]),
    ("n_objects <=", ["filter", "end of the expression"]),
    ("n_objects = 2", ["'=='"]),
    ("n_objects + 1 > 2", ["arithmetic"]),
    ("foo == 1", ["field of the store", "'foo'"]),
    ("split == 1", ["str literal"]),
    ("n_objects == 'a'", ["int literal"]),
    ("red > true", ["'==' or '!='"]),
    ("array_contains(tags, 1)", ["function calls"]),
    ("split like 'te%'", ["'like'"]),
    ("n_objects", ["comparison after the field"]),
    ("n_objects == x", ["comparing two fields"]),
    ("(n_objects == 1", ["')'"]),
    ("1 < n_objects < 3", ["chained"]),
    ("meta['a'] == 1", ["JSON paths"]),
    ("n_objects is null", ["'is'"]),
    ("n_objects == 1 n_objects == 2", ["'and', 'or'"]),
    ("#", ["a field, a literal or an operator"]),
])
def test_anything_outside_the_subset_is_a_clear_error(expr, words):
    with pytest.raises(ValueError, match="filter") as err:
        parse_filter(expr, SCHEMA)
    for word in words:
        assert word in str(err.value)


def test_a_filter_that_is_not_a_string_is_refused():
    with pytest.raises(ValueError, match="filter: expected a Milvus boolean expression"):
        parse_filter(3, SCHEMA)


# ---------------------------------------------------------------- random expressions vs Python
_FIELDS = {"n_objects": st.integers(0, 4), "x": st.floats(-1, 1, allow_nan=False).map(lambda v: round(v, 2)),
           "split": st.sampled_from(["train", "test", "val"]), "red": st.booleans()}


def _literal(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return repr(value)
    return str(value)


@st.composite
def _atom(draw):
    field = draw(st.sampled_from(sorted(_FIELDS)))
    value = draw(_FIELDS[field])
    if draw(st.booleans()) and field != "red":
        values = draw(st.lists(_FIELDS[field], max_size=3))
        negate = draw(st.booleans())
        text = f"{field} {'not in' if negate else 'in'} [{', '.join(_literal(v) for v in values)}]"
        return text, (lambda row, f=field, vs=values, n=negate: (row[f] in vs) != n)
    ops = ["==", "!="] if field == "red" else ["==", "!=", "<", "<=", ">", ">="]
    op = draw(st.sampled_from(ops))
    py = {"==": lambda a, b: a == b, "!=": lambda a, b: a != b, "<": lambda a, b: a < b,
          "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}[op]
    if draw(st.booleans()):
        return f"{field} {op} {_literal(value)}", (lambda row, f=field, v=value, p=py: p(row[f], v))
    flipped = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}[op]
    return f"{_literal(value)} {flipped} {field}", (lambda row, f=field, v=value, p=py: p(row[f], v))


@st.composite
def _expr(draw, depth=3):
    if depth == 0 or draw(st.integers(0, 2)) == 0:
        return draw(_atom())
    kind = draw(st.sampled_from(["and", "or", "not"]))
    if kind == "not":
        text, fn = draw(_expr(depth - 1))
        return f"not ({text})", (lambda row, f=fn: not f(row))
    (ta, fa), (tb, fb) = draw(_expr(depth - 1)), draw(_expr(depth - 1))
    if kind == "and":
        return f"({ta}) and ({tb})", (lambda row, a=fa, b=fb: a(row) and b(row))
    return f"({ta}) or ({tb})", (lambda row, a=fa, b=fb: a(row) or b(row))


@st.composite
def _table(draw):
    n = draw(st.integers(1, 12))
    return {name: np.array(draw(st.lists(strat, min_size=n, max_size=n))) for name, strat in _FIELDS.items()}


@settings(max_examples=300, deadline=None)
@given(expr=_expr(), table=_table())
def test_random_expressions_agree_with_python(expr, table):
    text, fn = expr
    n = len(table["x"])
    cols = {"id": np.arange(n), **{k: v.astype(bool) if k == "red" else v for k, v in table.items()}}
    rows = [{k: v[i].item() for k, v in cols.items()} for i in range(n)]
    got = parse_filter(text, SCHEMA).mask(cols)
    assert got.tolist() == [bool(fn(r)) for r in rows], text


@pytest.mark.slow
def test_the_subset_means_what_milvus_lite_means(tmp_path):
    """Every expression of the hand-made list selects the same rows in Milvus Lite."""
    from mmcourse.engine import open_store

    store = open_store("milvus", uri=str(tmp_path / "f.db"), dim=2)
    store.add(np.ones((8, 2), np.float32), fields={k: v for k, v in COLS.items() if k != "id"})
    for expr in ["n_objects <= 2", "2 >= n_objects", "n_objects == 2 and split == 'test'",
                 'split == "val" or red == true', "red", "not red", "!(red == True) && split in ['train']",
                 "n_objects not in [1, 3]", "NOT (n_objects == 1) AND x > 0.45",
                 "n_objects < 2 or n_objects > 2 and red == false", "split > 'train'", "id in [] or id == 7"]:
        _, ids = store.search(np.ones((1, 2), np.float32), k=8, filter=expr)
        assert sorted(ids[0][ids[0] >= 0].tolist()) == ids_where(expr), expr
    store.close()
