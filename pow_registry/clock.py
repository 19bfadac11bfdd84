"""The one clock: every "now" and "today" the app reads comes from here.

A date compared against a wall clock read in passing is how the suite once turned red by itself
when the calendar passed a date a test had written down. Reading time only here means a test
moves one thing (time-machine patches `datetime.now` and `time.time` underneath, and the suite's
`--clock-shift-days` option moves it for a whole run) and every rule sees the same moment.

"Today" is the UTC calendar day: the same day for every worker whatever its time zone, and the
day `frozen_at.date()` and every other stored UTC timestamp fall on.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime

__all__ = ["now", "timestamp", "today"]


def now() -> datetime:
    """The current moment, timezone-aware UTC."""
    return datetime.now(UTC)


def today() -> date:
    """The current UTC calendar day."""
    return now().date()


def timestamp() -> int:
    """Whole seconds since the epoch (session cookies' login and last-seen times)."""
    return int(time.time())
