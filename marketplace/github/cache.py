"""The GitHub client's answers kept between calls, so a re-check of an unchanged object is a
conditional request (a 304, which GitHub does not count against the rate limit)."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any


class AnswerCache:
    """Answers by key, at most ``size`` (least recently used out first). Each key's fetch runs
    under that key's own lock, so threads asking for one object wait for one request."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._answers: OrderedDict[str, Any] = OrderedDict()
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, key: str, fetch: Callable[[Any], Any]) -> Any:
        """``fetch(cached)`` under the key's lock, its answer cached (least recently used
        out first); ``cached`` is the previous answer, or None."""
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            with self._guard:
                cached = self._answers.get(key)
            value = fetch(cached)
            with self._guard:
                self._answers[key] = value
                self._answers.move_to_end(key)
                while len(self._answers) > self._size:
                    old, _ = self._answers.popitem(last=False)
                    self._locks.pop(old, None)
            return value
