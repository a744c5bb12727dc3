"""Rate limits per API key and per client address: token buckets kept in the process's memory.

Each instance counts only the requests it serves, so with N instances behind a load balancer a
caller gets up to N times the configured rate. That bounds guessing (tracking by protocol, survey
tokens) and floods well enough without a shared store; a gateway in front can add a global one.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from fastapi import Request

from atende_events.settings import RateLimit
from atende_events.web import ProblemError

MAX_BUCKETS = 100_000
"""Buckets kept per limiter; the least recently used go first (a full bucket is forgotten)."""


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    """Buckets of one rate, by caller: each holds `rate x burst_seconds` tokens and refills."""

    def __init__(
        self, rate: float, burst_seconds: float, *, max_buckets: int = MAX_BUCKETS
    ) -> None:
        self._rate = rate
        self._capacity = max(1.0, rate * burst_seconds)
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._max_buckets = max_buckets

    def take(self, caller: str, now: float) -> float:
        """Take one token for the caller; return 0 when taken, else the seconds until one is."""
        bucket = self._buckets.get(caller)
        if bucket is None:
            bucket = _Bucket(tokens=self._capacity, updated=now)
            self._buckets[caller] = bucket
            if len(self._buckets) > self._max_buckets:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(caller)
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(self._capacity, bucket.tokens + elapsed * self._rate)
            bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self._rate


class RateLimiter:
    """The buckets of every rule a service declares, per key and per client address."""

    def __init__(self, rules: Mapping[str, RateLimit]) -> None:
        self._per_key = {
            name: TokenBuckets(rule.per_key, rule.burst_seconds)
            for name, rule in rules.items()
            if rule.per_key > 0
        }
        self._per_client = {
            name: TokenBuckets(rule.per_client, rule.burst_seconds)
            for name, rule in rules.items()
            if rule.per_client > 0
        }

    def wait(self, rule: str, *, key: str | None, client: str, now: float) -> float:
        """Take a token from the caller's buckets; return 0 or the seconds to wait."""
        waits = [0.0]
        if rule in self._per_client:
            waits.append(self._per_client[rule].take(client, now))
        if key and rule in self._per_key:
            waits.append(self._per_key[rule].take(key, now))
        return max(waits)


def rate_limited(rule: str) -> Callable[[Request], Awaitable[None]]:
    """A FastAPI dependency: 429 with Retry-After once the key or the address is over the rule.

    It runs before the key is checked, so guessing keys is limited per address as well.
    """

    async def dependency(request: Request) -> None:
        limiter: RateLimiter = request.app.state.rate_limiter
        header = request.headers.get("authorization", "")
        token = header.partition(" ")[2].strip()
        key = hashlib.sha256(token.encode()).hexdigest() if token else None
        client = request.client.host if request.client else "unknown"
        wait = limiter.wait(rule, key=key, client=client, now=time.monotonic())
        if wait > 0:
            raise ProblemError(
                429,
                "Too many requests",
                "Too many requests from this client or key; retry after the time given.",
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )

    return dependency
