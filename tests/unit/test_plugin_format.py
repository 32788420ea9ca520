"""`kubectl sagemeter` without a cluster: time left, the table, the current expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sagemeter.cli.actions import still_parked_note
from sagemeter.cli.table import (
    cost_per_hour,
    current_expiry,
    endpoint_row,
    format_time_left,
    human_duration,
    instance,
    reason,
    render_table,
    table_headers,
    total_line,
)

NOW = datetime(2026, 11, 22, 17, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (0.9, "0s"),
        (45, "45s"),
        (60, "1m"),
        (5 * 60 + 30, "5m30s"),
        (3600 + 23 * 60 + 45, "1h23m"),  # rounded down, never up
        (3600 + 29 * 60 + 59, "1h29m"),
        (2 * 3600, "2h"),
        (86400 + 5 * 3600 + 59 * 60, "1d5h"),
        (86400 + 5 * 60, "1d"),  # the minutes are below the resolution of a day
        (15 * 86400, "2w1d"),
        (-30, "0s"),
    ],
)
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(timedelta(seconds=seconds)) == text


@pytest.mark.parametrize(
    ("offset", "text"),
    [
        (timedelta(hours=1, minutes=23, seconds=10), "1h23m"),
        (timedelta(seconds=30), "30s"),
        (timedelta(0), "expired just now"),
        (-timedelta(minutes=5, seconds=12), "expired 5m12s ago"),
        (-timedelta(hours=2, minutes=12, seconds=12), "expired 2h12m ago"),
        (-timedelta(days=3, hours=2), "expired 3d2h ago"),
    ],
)
def test_format_time_left(offset: timedelta, text: str) -> None:
    assert format_time_left(NOW + offset, NOW) == text


def test_no_expiry_is_a_dash() -> None:
    assert format_time_left(None, NOW) == "-"


def test_render_table_aligns_columns_like_kubectl() -> None:
    text = render_table(
        ["NAME", "PHASE", "COST/H"], [["falcon", "InService", "$1.52"], ["a", "-", "-"]]
    )
    assert text == (
        "NAME     PHASE       COST/H\nfalcon   InService   $1.52\na        -           -\n"
    )
    lines = text.splitlines()
    starts = {
        line.index(cell) for line, cell in zip(lines, ["PHASE", "InService", "-   "], strict=True)
    }
    assert starts == {9}
    assert all(line == line.rstrip() for line in lines)


def test_render_table_with_no_rows_is_the_header() -> None:
    assert render_table(["NAME", "PHASE"], []) == "NAME   PHASE\n"


def _degraded(reason_: str, status: str = "True") -> dict[str, Any]:
    return {"type": "Degraded", "status": status, "reason": reason_}


@pytest.mark.parametrize(
    ("status", "text"),
    [
        ({}, "-"),
        ({"phase": "Parked", "parkedReason": "Idle"}, "Idle"),
        ({"conditions": [_degraded("AsExpected", "False")]}, "-"),
        ({"conditions": [_degraded("RouteConflict")]}, "RouteConflict"),
        (
            {"parkedReason": "Expired", "conditions": [_degraded("EndpointNameConflict")]},
            "Expired,EndpointNameConflict",
        ),
    ],
)
def test_reason(status: dict[str, Any], text: str) -> None:
    assert reason(status) == text


@pytest.mark.parametrize(
    ("spec", "text"),
    [
        ({"instanceType": "ml.g5.2xlarge"}, "ml.g5.2xlarge"),
        ({"instanceType": "ml.g5.2xlarge", "instanceCount": 1}, "ml.g5.2xlarge"),
        ({"instanceType": "ml.g5.2xlarge", "instanceCount": 3}, "ml.g5.2xlarge x3"),
        ({"inferenceType": "Serverless"}, "Serverless"),
        ({"adopt": True, "endpointName": "nb"}, "-"),
    ],
)
def test_instance(spec: dict[str, Any], text: str) -> None:
    assert instance(spec) == text


def _object(
    name: str = "falcon",
    *,
    spec: dict[str, Any] | None = None,
    status: dict[str, Any] | None = None,
    generation: int = 1,
) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": "team-a",
            "generation": generation,
            "creationTimestamp": "2026-11-22T16:00:00Z",
            "resourceVersion": "1",
        },
        "spec": {"model": {"container": {"image": "repo/m:1"}}, "instanceType": "ml.m5.large"}
        | (spec or {}),
        "status": status or {},
    }


def test_endpoint_row() -> None:
    obj = _object(
        status={"phase": "InService", "sagemakerStatus": "InService", "hourlyCostUSD": "0.115"}
    )
    expires = NOW + timedelta(minutes=90)
    assert endpoint_row(obj, expires, NOW, with_namespace=False) == [
        "falcon",
        "InService",
        "-",
        "1h30m",
        "ml.m5.large",
        "$0.115",
    ]
    row = endpoint_row(_object(), None, NOW, with_namespace=True)
    assert row == ["team-a", "falcon", "-", "-", "-", "ml.m5.large", "$0"]
    assert len(row) == len(table_headers(with_namespace=True))


def test_current_expiry_prefers_a_current_status() -> None:
    # The operator capped a 10h ttl at 17:30: the status says so, and it wins.
    obj = _object(
        spec={"expiry": {"ttl": "10h"}},
        status={"expiresAt": "2026-11-22T17:30:00Z", "observedGeneration": 1},
    )
    assert current_expiry(obj) == datetime(2026, 11, 22, 17, 30, tzinfo=UTC)


def test_current_expiry_ignores_a_stale_status() -> None:
    # Someone just set expiresAt (generation 2); the operator has not seen it yet.
    obj = _object(
        spec={"expiry": {"expiresAt": "2026-11-22T23:00:00Z"}},
        status={"expiresAt": "2026-11-22T17:30:00Z", "observedGeneration": 1},
        generation=2,
    )
    assert current_expiry(obj) == datetime(2026, 11, 22, 23, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("expiry", "expected"),
    [
        ({"expiresAt": "2026-11-22T18:00:00Z"}, datetime(2026, 11, 22, 18, 0, tzinfo=UTC)),
        ({"ttl": "90m"}, datetime(2026, 11, 22, 17, 30, tzinfo=UTC)),  # created 16:00
        (
            {"ttl": "90m", "expiresAt": "2026-11-22T20:00:00Z"},
            datetime(2026, 11, 22, 20, tzinfo=UTC),
        ),
        (None, None),
    ],
)
def test_current_expiry_from_the_spec(
    expiry: dict[str, str] | None, expected: datetime | None
) -> None:
    assert current_expiry(_object(spec={"expiry": expiry} if expiry else {})) == expected


def test_wake_note_says_when_wake_is_not_enough() -> None:
    expired = _object(spec={"expiry": {"expiresAt": "2026-11-22T16:55:00Z"}})
    assert "extend falcon" in (still_parked_note(expired, "falcon", NOW) or "")
    assert "expired 5m ago" in (still_parked_note(expired, "falcon", NOW) or "")
    # Sunday 22 November 2026, 17:00 UTC: outside a weekday window.
    scheduled = _object(spec={"schedule": {"uptime": ["Mon-Fri 09:00-17:00 UTC"]}})
    note = still_parked_note(scheduled, "falcon", NOW) or ""
    assert "outside its uptime schedule" in note
    assert "2026-11-23T09:00:00Z" in note
    assert still_parked_note(_object(), "falcon", NOW) is None


def test_budget_lines_show_spend_of_each_budget() -> None:
    from sagemeter.cli.table import budget_lines

    policies = [
        {
            "metadata": {"name": "team-b"},
            "spec": {"budget": {"usdPerHour": "10.00"}},
            "status": {"usdPerHour": "9.50", "waiting": 2},
        },
        {
            "metadata": {"name": "team-a"},
            "spec": {"budget": {"usdPerHour": "25.00"}},
            "status": {"usdPerHour": "12.40"},
        },
        {"metadata": {"name": "no-budget"}, "spec": {}},
        {"metadata": {"name": "new"}, "spec": {"budget": {"usdPerHour": "5"}}},
    ]
    assert budget_lines(policies) == [
        "budget new: 0.00 of 5 USD/h",
        "budget team-a: 12.40 of 25.00 USD/h",
        "budget team-b: 9.50 of 10.00 USD/h, 2 waiting",
    ]


# (phase, SageMaker status, list price) -> what COST/H shows: what is paid now
PAID = [
    ("InService", "InService", "1.52", "$1.52"),
    ("Creating", "Creating", "1.52", "$1.52"),
    ("Updating", "Updating", "1.52", "$3.04"),  # blue/green: both fleets run
    ("InService", "OutOfService", "1.52", "$1.52"),  # still billed
    ("Parked", None, "1.52", "$0"),
    ("Failed", "Failed", "1.52", "$0"),
    ("Pending", None, "1.52", "$0"),
    ("Deleting", "Deleting", "1.52", "$0"),
    ("InService", "InService", None, "?"),
    ("Parked", None, None, "$0"),
]


@pytest.mark.parametrize(("phase", "sagemaker", "price", "shown"), PAID)
def test_cost_per_hour_is_what_is_paid_now(
    phase: str, sagemaker: str | None, price: str | None, shown: str
) -> None:
    status = {"phase": phase, "sagemakerStatus": sagemaker, "hourlyCostUSD": price}
    assert cost_per_hour({k: v for k, v in status.items() if v is not None}) == shown


def test_total_line_adds_up_what_is_paid() -> None:
    statuses = [
        {"phase": p, "sagemakerStatus": s, "hourlyCostUSD": c}
        for p, s, c, _ in PAID
        if c is not None
    ]
    assert total_line(statuses) == "paying $7.60/h for 4 of 8 endpoints"
    unknown = [*statuses, {"phase": "InService", "sagemakerStatus": "InService"}]
    assert total_line(unknown) == "paying $7.60/h for 5 of 9 endpoints (1 of unknown price)"
