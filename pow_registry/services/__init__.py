"""Use cases: each takes a session and the acting user, validates, commits once, writes the audit event."""
