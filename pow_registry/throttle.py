"""Growing delays after failed password checks: slow the guesser, never lock out the owner.

Counts are kept per key (an account and the address guessing at it, or an address alone), never
per account alone: ten wrong passwords from one address must not keep the owner out from another.
After `free` failures under a key, each further attempt under it waits 2, 4, 8, ... seconds (at
most `max_delay`) after the last failure. A refusal is a couple of reads from the rate-limit
storage (memory, or Redis when several processes serve the app): no password hashing, and no
thread sleeps waiting for the delay to pass (a sleeping thread is one fewer for everyone else).

Once a wait is over, one attempt under that key goes ahead and the others that arrive at the same
moment wait again, so firing many requests in parallel buys nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass

from limits.storage import Storage

from pow_registry import clock


@dataclass(frozen=True)
class Backoff:
    storage: Storage
    scope: str
    secret: bytes
    free: int
    max_delay: int
    window: int

    def delay(self, failures: int) -> int:
        """Seconds the next attempt waits after this many failures (0 while they are free)."""
        if failures < self.free:
            return 0
        return min(2 ** min(failures - self.free + 1, 30), self.max_delay)

    def _key(self, *parts: str) -> str:
        # Keyed hash: the storage (possibly a shared Redis) never holds emails or addresses.
        digest = hmac.new(self.secret, "\x00".join(parts).encode(), hashlib.sha256).hexdigest()[:32]
        return f"pow-registry/backoff/{self.scope}/{digest}"

    def wait(self, *parts: str) -> int:
        """0 when an attempt may go ahead now (and takes the turn), else the seconds left."""
        key = self._key(*parts)
        failures = self.storage.get(key)
        if failures < self.free:
            return 0
        waiting = f"{key}/wait/{failures}"
        if self.storage.get(waiting):
            return max(1, math.ceil(self.storage.get_expiry(waiting) - clock.now().timestamp()))
        # The wait after this failure is over: one attempt goes ahead, whoever asks first.
        if self.storage.incr(f"{key}/turn/{failures}", self.delay(failures)) > 1:
            return self.delay(failures)
        return 0

    def failed(self, *parts: str) -> None:
        key = self._key(*parts)
        failures = self.storage.incr(key, self.window)
        if failures >= self.free:
            self.storage.incr(f"{key}/wait/{failures}", self.delay(failures))

    def succeeded(self, *parts: str) -> None:
        self.storage.clear(self._key(*parts))


def minutes(seconds: int) -> int:
    """A wait in whole minutes for people, rounded up (never "0 minutes")."""
    return max(1, math.ceil(seconds / 60))
