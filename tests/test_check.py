"""mmcourse.check() and the comparison helpers used by exercise checkers."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import mmcourse
from mmcourse.grading import check as C


@pytest.fixture
def checker():
    """Register a throw-away checker ``test-square`` and remove it afterwards."""

    @C.register("test-square", why="squares are right.")
    def _check(fn):
        for x in (0, 3, -2):
            C.expect_equal(fn(x), x * x, f"square({x})", hint="multiply x by itself")

    yield "test-square"
    C._REGISTRY.pop("test-square", None)


def test_check_is_the_top_level_name():
    assert mmcourse.check is C.check


def test_pass_prints_one_line_and_returns_true(checker, capsys):
    assert C.check(checker, lambda x: x * x) is True
    out = capsys.readouterr().out
    assert out == "✓ test-square passed. squares are right.\n"


def test_wrong_answer_names_case_expected_got_and_hint(checker, capsys):
    assert C.check(checker, lambda x: x + x) is False
    out = capsys.readouterr().out.strip()
    assert out == "✗ test-square: on square(3): expected 9, got 6. Hint: multiply x by itself"


def test_learner_exception_is_reported_not_raised(checker, capsys):
    assert C.check(checker, lambda x: 1 / 0) is False
    assert "your code raised ZeroDivisionError" in capsys.readouterr().out


def test_not_implemented_and_none_are_friendly(checker, capsys):
    def stub(x):
        raise NotImplementedError()

    assert C.check(checker, stub) is False
    assert "not implemented yet" in capsys.readouterr().out
    assert C.check(checker, None) is False
    assert "nothing to check yet" in capsys.readouterr().out


def test_unknown_grade_id_raises_value_error(checker):
    with pytest.raises(ValueError, match="grade_id: expected one of the course's exercises"):
        C.check("no-such-exercise", 1)


def test_scalars_print_plainly():
    with pytest.raises(C.CheckFailure) as err:
        C.expect_close(np.float32(3.0), np.array(4.0), "mean([4])")
    assert str(err.value) == "on mean([4]): expected 4.0, got 3.0"
    assert C._short(np.int64(7)) == "7"
    assert C._short(1e-9) == "1e-09"


def test_expect_close_shape_and_type_messages():
    with pytest.raises(C.CheckFailure, match=r"expected shape \(1, 2\), got shape \(2,\)"):
        C.expect_close([1, 2], [[1, 2]], "case")
    with pytest.raises(C.CheckFailure, match="expected an array like 4.0, got str 'ab'"):
        C.expect_close("ab", 4.0, "case")
    C.expect_close([1.0, 2.0 + 1e-9], np.array([1.0, 2.0]), "close enough")


def test_expect_equal_arrays_and_values():
    C.expect_equal(np.arange(3), np.arange(3), "same")
    with pytest.raises(C.CheckFailure):
        C.expect_equal(np.arange(3), np.arange(4), "different shape")
    with pytest.raises(C.CheckFailure, match="expected 'a', got 'b'"):
        C.expect_equal("b", "a", "strings")


def test_expect_raises():
    C.expect_raises(lambda: int("x"), "int('x')")
    C.expect_raises(lambda: int("x"), "int('x')", match="invalid literal")
    with pytest.raises(C.CheckFailure, match="expected ValueError, got no error \\(returned 3\\)"):
        C.expect_raises(lambda: 3, "k=0")
    with pytest.raises(C.CheckFailure, match="expected ValueError, got TypeError: boom"):
        C.expect_raises(lambda: (_ for _ in ()).throw(TypeError("boom")), "wrong type")
    with pytest.raises(C.CheckFailure, match="mentioning 'scores'"):
        C.expect_raises(lambda: int("x"), "message", match="scores")


def test_expect_ranking_accepts_any_order_among_ties():
    scores = [0.5, 0.5, 0.9, 0.1]
    C.expect_ranking([2, 0, 1, 3], scores, "full")
    C.expect_ranking([2, 1, 0, 3], scores, "full, tie swapped")
    C.expect_ranking([2, 1], scores, "top-2 with a tie at the boundary")
    C.expect_ranking([2, 0], scores, "the other tie at the boundary")


def test_expect_ranking_failures_are_precise():
    with pytest.raises(C.CheckFailure, match=r"item 2 \(score 0.9\) ranked above item 0"):
        C.expect_ranking([0, 2], [0.5, 0.5, 0.9], "order")
    with pytest.raises(C.CheckFailure, match=r"item 1 \(score 0.7\) in the top 2"):
        C.expect_ranking([2, 0], [0.5, 0.7, 0.9], "missing item")
    with pytest.raises(C.CheckFailure, match="each item at most once"):
        C.expect_ranking([2, 2], [0.5, 0.7, 0.9], "duplicates")
    with pytest.raises(C.CheckFailure, match=r"indices in \[0, 2\]"):
        C.expect_ranking([3, 2], [0.5, 0.7, 0.9], "out of range")
    with pytest.raises(C.CheckFailure, match="query 1"):
        C.expect_ranking([[0, 1], [1, 0]], [[1, 0.5, 0], [0, 1, 0.5]], "2-D")
    with pytest.raises(C.CheckFailure, match="integer item indices"):
        C.expect_ranking(["a", "b"], [0.5, 0.7, 0.9], "strings")
    with pytest.raises(ValueError, match="k: expected an integer >= 1"):
        C.expect_ranking([0], [1.0], "k", k=0)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 4), min_size=2, max_size=12), st.integers(1, 12), st.randoms())
def test_expect_ranking_matches_a_stable_sort(values, k, rnd):
    """Property: a stable descending sort always passes; a non-sorted permutation of distinct scores fails."""
    scores = np.asarray(values, dtype=float)
    k = min(k, scores.size)
    C.expect_ranking(np.argsort(-scores, kind="stable")[:k], scores, "stable sort")
    distinct = np.arange(scores.size, dtype=float)
    perm = list(range(scores.size))
    rnd.shuffle(perm)
    perm = np.asarray(perm)
    if list(perm) != sorted(perm, reverse=True):
        with pytest.raises(C.CheckFailure):
            C.expect_ranking(perm, distinct, "shuffled distinct scores")
