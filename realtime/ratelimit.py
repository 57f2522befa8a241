"""Rate limits by GCRA (the generic cell rate algorithm): one number per key, the theoretical
arrival time (TAT), decides whether a request fits. The decision is pure; a limiter keeps the
numbers, in this process (here) or in Redis (`realtime.ratelimit_redis`)."""

from __future__ import annotations

import math
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

_UNITS = {"s": 1.0, "sec": 1.0, "second": 1.0, "min": 60.0, "minute": 60.0, "h": 3600.0,
          "hour": 3600.0}
_RATE = re.compile(
    r"^\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)?\s*([a-z]+?)s?\s*(?:burst\s+(\d+))?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Rate:
    """`count` requests per `seconds` on average, up to `burst` of them at once."""

    count: int
    seconds: float
    burst: int

    def __post_init__(self) -> None:
        if self.count < 1 or self.burst < 1 or not self.seconds > 0:
            raise ValueError(f"a rate needs count >= 1, burst >= 1 and seconds > 0: {self}")

    @property
    def interval_us(self) -> int:
        """The time one request uses up; rounded up, so a limit is never looser than written."""
        return max(1, math.ceil(self.seconds * 1_000_000 / self.count))

    @classmethod
    def parse(cls, text: str) -> Rate:
        """`30/s burst 60`, `20/min`, `5/10s`, `100/h burst 10`; burst defaults to the count."""
        match = _RATE.match(text)
        unit = _UNITS.get(match.group(3).lower()) if match else None
        if match is None or unit is None:
            raise ValueError(f"not a rate like '20/min burst 6': {text!r}")
        count, every, _, burst = match.groups()
        return cls(int(count), float(every or 1) * unit, int(burst or count))

    def __str__(self) -> str:
        return f"{self.count}/{self.seconds:g}s burst {self.burst}"


@dataclass(frozen=True)
class Decision:
    retry_after_ms: int  # 0 when the request is allowed (and counted)
    tat_us: int  # the state to keep for the key; a key whose TAT has passed is as good as absent

    @property
    def allowed(self) -> bool:
        return self.retry_after_ms == 0


def decide(tat_us: int | None, now_us: int, rate: Rate) -> Decision:
    """Allow when the request fits within the burst; a refused request changes nothing."""
    interval = rate.interval_us
    tat = now_us if tat_us is None else max(tat_us, now_us)
    over = tat - now_us - (rate.burst - 1) * interval
    if over > 0:
        return Decision(retry_after_ms=math.ceil(over / 1000), tat_us=tat)
    return Decision(retry_after_ms=0, tat_us=tat + interval)


class RateLimiter(Protocol):
    async def hit(self, key: str, rate: Rate) -> int:
        """Count one request against `key`: 0 when allowed, else the milliseconds to wait."""
        ...


def monotonic_us() -> int:
    return time.monotonic_ns() // 1000


class InProcessLimiter:
    """One node's limits. Memory is bounded: idle keys are dropped as they come up in order of
    last use, and past `capacity` the least recently used key is forgotten (a looser limit for
    it beats unbounded memory)."""

    def __init__(self, capacity: int = 100_000,
                 clock: Callable[[], int] = monotonic_us) -> None:
        self._capacity = capacity
        self._clock = clock
        self._tats: OrderedDict[str, int] = OrderedDict()

    def __len__(self) -> int:
        return len(self._tats)

    async def hit(self, key: str, rate: Rate) -> int:
        return self.take(key, rate)

    def take(self, key: str, rate: Rate) -> int:
        now = self._clock()
        self._evict(now)
        decision = decide(self._tats.get(key), now, rate)
        if decision.allowed:
            self._tats[key] = decision.tat_us
        if key in self._tats:
            self._tats.move_to_end(key)
        return decision.retry_after_ms

    def _evict(self, now: int) -> None:
        while self._tats:
            key, tat = next(iter(self._tats.items()))
            if tat > now and len(self._tats) < self._capacity:
                return
            del self._tats[key]
