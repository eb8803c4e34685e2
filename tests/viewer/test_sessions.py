"""The per-tab session store: independent sessions, a cap that drops the least recently used, expiry."""

import pytest
from scene3d_viewer import SessionStore


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def fresh(session_id):
    return {"id": session_id, "query": None}


def test_sessions_are_independent_and_unknown_ids_get_a_fresh_state():
    store = SessionStore(fresh, cap=4, ttl_s=60.0)
    a, b = store.get("tab-a"), store.get("tab-b")
    a["query"] = "the chair"
    assert store.get("tab-a") is a and a["query"] == "the chair"
    assert b["query"] is None and store.get("tab-b") is b
    assert store.get("never-seen") == {"id": "never-seen", "query": None}
    assert store.peek("other") is None and "other" not in store.session_ids()   # peek makes nothing
    assert store.pop("tab-a") is a and store.get("tab-a") is not a              # a closed tab starts afresh


def test_cap_drops_the_least_recently_used():
    dropped = []
    store = SessionStore(fresh, cap=2, ttl_s=60.0, on_drop=lambda k, v: dropped.append((k, v["id"])))
    store.get(1)
    store.get(2)
    store.get(1)            # 1 used again: 2 is now the oldest
    store.get(3)
    assert store.session_ids() == [1, 3] and dropped == [(2, 2)]
    store.pop(1)            # a closed tab: removed, not reported as dropped
    assert dropped == [(2, 2)] and len(store) == 1


def test_idle_sessions_expire():
    clock, dropped = Clock(), []
    store = SessionStore(fresh, cap=8, ttl_s=10.0, on_drop=lambda k, v: dropped.append(k), clock=clock)
    store.get("a")
    clock.t = 6.0
    store.get("b")
    clock.t = 12.0          # a idle for 12 s, b for 6 s
    assert store.expire() == ["a"] and store.session_ids() == ["b"] and dropped == ["a"]
    clock.t = 17.0
    store.get("c")          # expiry also runs on every use
    assert store.session_ids() == ["c"] and dropped == ["a", "b"]


def test_bad_limits_are_refused():
    with pytest.raises(ValueError, match="at least one"):
        SessionStore(fresh, cap=0)
    with pytest.raises(ValueError, match="positive idle time"):
        SessionStore(fresh, ttl_s=0)


def test_touch_marks_use_without_making_a_state_even_while_a_state_is_made():
    made = []

    def make(session_id):                       # a page whose construction fires its own callback
        made.append(session_id)
        store.touch(session_id)                 # same thread, store lock held: must not deadlock
        return {"id": session_id}

    store = SessionStore(make, cap=2, ttl_s=60.0)
    store.touch("ghost")
    assert store.session_ids() == [] and made == []          # touch never makes a state
    store.get("a"), store.get("b")
    store.touch("a")                                          # "a" is now the most recent
    assert store.session_ids() == ["b", "a"] and made == ["a", "b"]
