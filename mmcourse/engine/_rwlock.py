"""A readers–writer lock: many concurrent searches, or one writer (add, upsert, delete, close)."""
from __future__ import annotations

import threading
from contextlib import contextmanager


class RWLock:
    """``with lock.read():`` shares the lock; ``with lock.write():`` holds it alone.

    Writers are preferred: once a writer waits, new readers queue behind it, so a steady
    stream of searches cannot starve an ``add``.
    """

    def __init__(self):
        self._cond = threading.Condition(threading.Lock())
        self._readers = 0
        self._writer = False
        self._waiting_writers = 0

    @contextmanager
    def read(self):
        with self._cond:
            while self._writer or self._waiting_writers:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                if not self._readers:
                    self._cond.notify_all()

    @contextmanager
    def write(self):
        with self._cond:
            self._waiting_writers += 1
            while self._writer or self._readers:
                self._cond.wait()
            self._waiting_writers -= 1
            self._writer = True
        try:
            yield
        finally:
            with self._cond:
                self._writer = False
                self._cond.notify_all()
