"""Use cases: each takes a session and the acting user, validates, commits once, writes the audit event."""

# Matching re-runs on every commit that changes a person, a report or an inquiry: its session
# hooks must be registered whichever service a process uses first.
from pow_registry.services import matching as _matching  # noqa: E402,F401
