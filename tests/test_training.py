"""The framework-neutral training pieces (mmcourse/_training.py): schedule, clock, batches, prefetch."""
import threading

import numpy as np
import pytest

from mmcourse import _training
from mmcourse._training import Batches, Clock, lr_factor, prefetched
from mmcourse.data import make_shapes


class FakeTime:
    """A perf_counter that moves only when told to."""

    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


@pytest.fixture
def fake_time(monkeypatch):
    clock = FakeTime()
    monkeypatch.setattr(_training.time, "perf_counter", clock)
    return clock


def test_lr_factor_warms_up_then_decays_to_the_floor():
    assert lr_factor(0.0) == pytest.approx(0.05)  # never a zero learning rate
    assert lr_factor(0.015) == pytest.approx(0.5)
    assert lr_factor(0.03) == pytest.approx(1.0)
    values = [lr_factor(p) for p in np.linspace(0.03, 1.0, 50)]
    assert all(a >= b for a, b in zip(values, values[1:]))
    assert lr_factor(1.0) == pytest.approx(0.02) and lr_factor(5.0) == pytest.approx(0.02)


def test_clock_without_budget_counts_steps(fake_time):
    clock = Clock(steps=10)
    assert [clock.progress(s) for s in (1, 6, 11)] == [0.0, 0.5, 1.0]
    fake_time.now += 1e6
    assert not clock.over() and clock.progress(2) == 0.1


def test_clock_budget_starts_after_the_first_step(fake_time):
    # a first step of 3 s (TensorFlow tracing) must not push step 2 past the warm-up
    clock = Clock(steps=10**6, time_budget=60.0)
    assert clock.progress(1) == 0.0
    fake_time.now += 3.0
    clock.step_done()
    fake_time.now += 0.05
    assert clock.progress(2) == pytest.approx(0.05 / 57.0)
    assert lr_factor(clock.progress(2)) < 0.1
    fake_time.now += 28.45  # half of the 57 s left after the first step
    assert clock.progress(3) == pytest.approx(0.5) and not clock.over()
    clock.step_done()  # only the first call counts
    assert clock.first_step_end == pytest.approx(3.0)
    fake_time.now += 28.5
    assert clock.over() and clock.progress(4) == 1.0
    assert clock.elapsed() == pytest.approx(60.0)


def test_clock_steps_win_when_they_run_ahead_of_time(fake_time):
    clock = Clock(steps=4, time_budget=1000.0)
    clock.step_done()
    fake_time.now += 1.0
    assert clock.progress(3) == 0.5


def test_batches_are_seeded_and_hold_distinct_images():
    data = make_shapes(60, seed=1, split_sizes=(60, 0, 0), cache=False)
    a = Batches(data, 16, np.random.default_rng(5))
    b = Batches(data, 16, np.random.default_rng(5))
    for _ in range(8):  # crosses epoch boundaries (60 images, 16 per batch)
        (ia, ca), (ib, cb) = a.next(), b.next()
        np.testing.assert_array_equal(ia, ib)
        np.testing.assert_array_equal(ca, cb)
        assert len(set(ia.tolist())) == 16
        assert all(data.caption_image[c] == i for c, i in zip(ca, ia))


def test_prefetched_gives_the_inline_sequence_from_a_worker_thread():
    def counter():
        rng = np.random.default_rng(0)
        threads = []

        def make():
            threads.append(threading.current_thread())
            return rng.integers(1 << 30)
        return make, threads

    inline, _ = counter()
    expected = [inline() for _ in range(20)]
    make, threads = counter()
    assert list(prefetched(make, 20)) == expected
    assert len(threads) == 20 and threading.main_thread() not in threads
    assert list(prefetched(make, 0)) == []


def test_prefetched_stops_early_and_passes_errors_on():
    calls = []

    def make():
        calls.append(1)
        if len(calls) == 3:
            raise ValueError("batch 3 is broken")
        return len(calls)

    gen = prefetched(make, 10)
    assert next(gen) == 1 and next(gen) == 2
    with pytest.raises(ValueError, match="batch 3"):
        next(gen)
    calls.clear()
    for value in prefetched(lambda: calls.append(1) or len(calls), 100):
        if value == 2:
            break
    assert len(calls) <= 3  # at most one batch made ahead and dropped
