"""A bounded store of per-session states: the viewer keeps one page state per browser tab.

Each browser tab is one viser websocket connection, whose client id names its session on every
message it sends. The store creates a fresh state for an id it does not hold, keeps at most
``cap`` states (the least recently used goes first) and drops a state idle for ``ttl_s``
seconds, so the server's memory stays bounded however many tabs are opened and left open.
Pure Python; no viser needed.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SessionStore(Generic[K, V]):
    """Per-session states by session id, least recently used first out.

    Args:
        make: builds the fresh state of a session id the store does not hold.
        cap: at most this many states are kept (>= 1); making one more drops the least
            recently used.
        ttl_s: a state not used for this many seconds is dropped (> 0).
        on_drop: called as ``on_drop(session_id, state)`` for every state dropped by the cap
            or by expiry (not by :meth:`pop`), outside the store's lock.
        clock: the time source, seconds (tests pass a fake one).

    Raises:
        ValueError: ``cap`` < 1 or ``ttl_s`` <= 0.
    """

    def __init__(self, make: Callable[[K], V], cap: int = 8, ttl_s: float = 3600.0,
                 on_drop: Callable[[K, V], None] | None = None, clock: Callable[[], float] = time.monotonic):
        if cap < 1:
            raise ValueError(f"cap={cap}: a session store keeps at least one session")
        if not ttl_s > 0:
            raise ValueError(f"ttl_s={ttl_s}: give a positive idle time in seconds")
        self.make, self.cap, self.ttl_s, self.on_drop, self.clock = make, cap, ttl_s, on_drop, clock
        self._states: OrderedDict[K, tuple[float, V]] = OrderedDict()   # oldest use first
        self._lock = threading.RLock()   # a page being made may mark its own use (see touch)

    def get(self, session_id: K) -> V:
        """The state of ``session_id`` (a fresh one when the store does not hold it), marked as used now."""
        with self._lock:
            dropped = self._expire()
            now = self.clock()
            if session_id in self._states:
                state = self._states.pop(session_id)[1]
            else:
                state = self.make(session_id)
                while len(self._states) >= self.cap:
                    dropped.append(self._states.popitem(last=False))
            self._states[session_id] = now, state
        self._report(dropped)
        return state

    def peek(self, session_id: K) -> V | None:
        """The state of ``session_id`` if held, without marking it used or making one."""
        with self._lock:
            held = self._states.get(session_id)
        return None if held is None else held[1]

    def pop(self, session_id: K) -> V | None:
        """Remove and return the state of ``session_id`` (None if not held); ``on_drop`` is not called."""
        with self._lock:
            held = self._states.pop(session_id, None)
        return None if held is None else held[1]

    def expire(self) -> list[K]:
        """Drop the states idle for ``ttl_s`` or longer now; returns their session ids."""
        with self._lock:
            dropped = self._expire()
        self._report(dropped)
        return [key for key, _ in dropped]

    def touch(self, session_id: K) -> None:
        """Mark ``session_id`` as used now when the store holds it; never makes a state (so a
        callback that fires while its page is being made, on the same thread, is harmless)."""
        with self._lock:
            if session_id in self._states:
                state = self._states.pop(session_id)[1]
                self._states[session_id] = self.clock(), state

    def session_ids(self) -> list[K]:
        """The session ids held, least recently used first."""
        with self._lock:
            return list(self._states)

    def __len__(self) -> int:
        with self._lock:
            return len(self._states)

    def _expire(self) -> list[tuple[K, tuple[float, V]]]:
        """Pop the expired states (the caller holds the lock)."""
        limit = self.clock() - self.ttl_s
        dropped = []
        while self._states and next(iter(self._states.values()))[0] <= limit:
            dropped.append(self._states.popitem(last=False))
        return dropped

    def _report(self, dropped: list[tuple[K, tuple[float, V]]]) -> None:
        if self.on_drop is not None:
            for key, (_, state) in dropped:
                self.on_drop(key, state)
