"""BoundedMemo: an answer is computed once per key, and everything is forgotten when the bound is reached."""

from __future__ import annotations

from cds_service.memo import BoundedMemo


def test_an_answer_is_computed_once_per_key_none_included() -> None:
    memo: BoundedMemo[object] = BoundedMemo(8)
    calls: list[str] = []
    for key in ("a", "b", "a", "none", "none"):
        memo.get(key, lambda key=key: calls.append(key) or (None if key == "none" else key.upper()))
    assert calls == ["a", "b", "none"]
    assert memo.get("a", lambda: "not asked") == "A" and memo.get("none", lambda: "not asked") is None


def test_when_full_everything_is_forgotten_at_once() -> None:
    memo: BoundedMemo[int] = BoundedMemo(3)
    for n in range(3):
        memo.get(n, lambda n=n: n)
    assert len(memo) == 3
    memo.get(3, lambda: 3)
    assert len(memo) == 1 and memo.get(0, lambda: -1) == -1
