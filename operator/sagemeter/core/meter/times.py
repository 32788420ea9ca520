"""RFC 3339 times as Kubernetes writes them (UTC, second precision, `Z`)."""

from __future__ import annotations

from datetime import UTC, datetime


def format_time(instant: datetime) -> str:
    """Naive input is taken as UTC, as `parse_time` does."""
    if instant.tzinfo is None:
        instant = instant.replace(tzinfo=UTC)
    return instant.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    """Parse RFC 3339 (`Z` or an offset); naive input is taken as UTC."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
