"""The patches the plugin's commands and the UI's buttons send (one builder per action)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sagemeter.cli.patches import (
    NothingToExtend,
    extend_patch,
    park_patch,
    resume_patch,
    wake_patch,
)

NOW = datetime(2026, 11, 22, 17, 0, tzinfo=UTC)


def _object(suspend: bool | None = None, **spec: Any) -> dict[str, Any]:
    if suspend is not None:
        spec["suspend"] = suspend
    return {
        "metadata": {
            "name": "falcon",
            "resourceVersion": "42",
            "generation": 1,
            "creationTimestamp": "2026-11-22T16:00:00Z",
        },
        "spec": spec,
    }


@pytest.mark.parametrize(
    ("expiry", "expected"),
    [
        ({"expiresAt": "2026-11-22T18:00:00Z"}, "2026-11-22T19:30:00Z"),  # from the expiry
        ({"expiresAt": "2026-11-22T16:00:00Z"}, "2026-11-22T18:30:00Z"),  # expired: from now
        ({"ttl": "2h"}, "2026-11-22T19:30:00Z"),  # creation + ttl
    ],
)
def test_extend_patch_sets_expires_at_with_the_read_resource_version(
    expiry: dict[str, str], expected: str
) -> None:
    patch, new = extend_patch(_object(expiry=expiry), timedelta(hours=1, minutes=30), NOW)
    assert patch == {
        "metadata": {"resourceVersion": "42"},
        "spec": {"expiry": {"expiresAt": expected}},
    }
    assert new.isoformat().replace("+00:00", "Z") == expected


def test_extend_patch_prefers_the_status_that_describes_the_spec() -> None:
    obj = _object(expiry={"ttl": "10h"})
    obj["status"] = {"expiresAt": "2026-11-22T17:30:00Z", "observedGeneration": 1}
    patch, _ = extend_patch(obj, timedelta(hours=1), NOW)
    assert patch["spec"]["expiry"]["expiresAt"] == "2026-11-22T18:30:00Z"


def test_extend_patch_refuses_an_endpoint_without_expiry() -> None:
    with pytest.raises(NothingToExtend, match="never expires"):
        extend_patch(_object(), timedelta(hours=1), NOW)


@pytest.mark.parametrize(
    ("suspend", "park", "resume"),
    [
        (None, {"spec": {"suspend": True}}, None),
        (False, {"spec": {"suspend": True}}, None),
        (True, None, {"spec": {"suspend": False}}),
    ],
)
def test_park_and_resume_toggle_suspend_only_when_needed(
    suspend: bool | None, park: dict[str, Any] | None, resume: dict[str, Any] | None
) -> None:
    obj = _object(suspend=suspend)
    assert park_patch(obj) == park
    assert resume_patch(obj) == resume


def test_wake_patch_sets_a_new_annotation_and_clears_suspend() -> None:
    clock = NOW.replace(microsecond=123456)
    assert wake_patch(_object(), clock) == {
        "metadata": {"annotations": {"sagemeter.io/wake": "2026-11-22T17:00:00Z"}}
    }
    assert wake_patch(_object(suspend=True), clock) == {
        "metadata": {"annotations": {"sagemeter.io/wake": "2026-11-22T17:00:00Z"}},
        "spec": {"suspend": False},
    }
    woken = _object()
    woken["metadata"]["annotations"] = {"sagemeter.io/wake": "2026-11-22T17:00:00Z"}
    value = wake_patch(woken, clock)["metadata"]["annotations"]["sagemeter.io/wake"]
    assert value == "2026-11-22T17:00:00.123456Z"  # twice in a second: still a new value
