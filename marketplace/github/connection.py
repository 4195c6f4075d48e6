"""PyGithub's HTTP connection, made safe to share between threads.

A PyGithub ``Requester`` keeps one connection object for all its calls, and each call is
two steps on it: ``request()`` stores the verb, URL, headers and body on the object, then
``getresponse()`` sends what is stored. Two threads calling through one client interleave
those steps, and one of them sends the other's request and takes its answer as its own (a
verification judging another pull request's JSON). Here the stored request is kept per
thread, while the ``requests`` session and its connection pool, which are thread-safe,
stay shared. ``install()`` puts these classes in place of PyGithub's for every Requester
made afterwards.
"""

from __future__ import annotations

import threading
from typing import Any

from github import Requester as requester_module

_CLASS_ATTRIBUTES = ("_Requester__httpConnectionClass", "_Requester__httpsConnectionClass")


class _PerThread:
    """An attribute that holds one value per thread."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        try:
            return getattr(obj._calls, self.name)
        except AttributeError:
            raise AttributeError(f"no request pending on this thread ({self.name})") from None

    def __set__(self, obj: Any, value: Any) -> None:
        setattr(obj._calls, self.name, value)


class _PendingPerThread:
    verb = _PerThread()
    url = _PerThread()
    input = _PerThread()
    headers = _PerThread()
    stream = _PerThread()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._calls = threading.local()
        super().__init__(*args, **kwargs)


class HTTPConnection(_PendingPerThread, requester_module.HTTPRequestsConnectionClass):
    pass


class HTTPSConnection(_PendingPerThread, requester_module.HTTPSRequestsConnectionClass):
    pass


def install() -> None:
    """Make every PyGithub Requester created from now on use these classes. Refuses loudly
    if PyGithub no longer keeps its connection classes where this expects them."""
    cls = requester_module.Requester
    missing = [name for name in _CLASS_ATTRIBUTES if not hasattr(cls, name)]
    if missing:
        raise RuntimeError(f"PyGithub's Requester has no {', '.join(missing)}: update {__name__}")
    setattr(cls, _CLASS_ATTRIBUTES[0], HTTPConnection)
    setattr(cls, _CLASS_ATTRIBUTES[1], HTTPSConnection)
