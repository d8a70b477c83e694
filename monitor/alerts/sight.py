"""`Sight`: the watched sources of one account, when each last delivered, and which are stale.

The policy's freshness bookkeeping (pure, `now_ms` passed in): a source is *unseen* from the
`Watch` that adds it until its first `Seen`, *down* when the feed says so (`SourceDown`, with a
reason) until its next `Seen`, and *stale* when it has not delivered within its limit
(`stale_after_ms`, or its own larger limit). `AlertPolicy` turns a stale or down source into a
blind alert and the end of it into a restored one; it updates `seen` directly on the per-tick path.
"""

from __future__ import annotations

from collections.abc import Iterator


class Sight:
    """Freshness of the watched sources (ms timestamps)."""

    __slots__ = ("down", "limits", "seen", "stale_after_ms", "unseen")

    def __init__(self, stale_after_ms: int) -> None:
        self.stale_after_ms = stale_after_ms
        self.seen: dict[str, int] = {}
        self.unseen: set[str] = set()
        self.limits: dict[str, int] = {}  # per-source staleness limits above stale_after_ms
        self.down: dict[str, str] = {}  # sources known out of date now, with the reason

    def watch(
        self, sources: frozenset[str], now_ms: int, limits: tuple[tuple[str, int], ...] = ()
    ) -> None:
        """Watch exactly `sources` (new ones unseen since `now_ms`), with their own limits."""
        base = self.stale_after_ms
        self.limits = {s: ms for s, ms in limits if s in sources and ms > base}
        for gone in self.down.keys() - sources:
            del self.down[gone]
        for gone in self.seen.keys() - sources:
            del self.seen[gone]
            self.unseen.discard(gone)
        for new in sources - self.seen.keys():
            self.seen[new] = now_ms
            self.unseen.add(new)

    def any_stale(self, now_ms: int) -> bool:
        """Whether `stale(now_ms)` would name any source, without building the list (a blind
        account asks on every tick it receives)."""
        return next(self._stale(now_ms), None) is not None

    def stale(self, now_ms: int) -> list[str]:
        """The watched sources down or past their limit at `now_ms`, sorted."""
        return sorted(self._stale(now_ms))

    def _stale(self, now_ms: int) -> Iterator[str]:
        oldest = now_ms - self.stale_after_ms
        seen = self.seen
        down = self.down
        if not down and (not seen or min(seen.values()) >= oldest):
            return  # the common case, checked without looking at each source
        limits = self.limits
        for s, t in seen.items():
            if s in down or (t < oldest and (s not in limits or t < now_ms - limits[s])):
                yield s
