"""Which transitions notify, once each, and what the message says (`sagemeter.core.notify`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sagemeter.api.models import Condition, ManagedEndpointStatus, NotificationRecord
from sagemeter.core.notify import (
    SUBJECT_MAX,
    ExtendHints,
    Notice,
    active_notices,
    attributes,
    message,
    pending,
    recorded,
    subject,
)

NOW = datetime(2026, 11, 22, 17, 0, tzinfo=UTC)
T = "2026-11-22T16:50:00Z"
T2 = "2026-11-22T16:55:00Z"
UID = "6f1c1f3e-8a0b-4b59-9d7c-2f1f6f4ad001"


def condition(type_: str, status: str, reason: str, at: str = T, message: str = "m") -> Condition:
    return Condition(
        type=type_, status=status, reason=reason, message=message, last_transition_time=at
    )


def status(*conditions: Condition, **fields: object) -> ManagedEndpointStatus:
    return ManagedEndpointStatus(conditions=list(conditions), **fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        ([], []),
        ([condition("Ready", "True", "InService")], []),
        ([condition("ExpiringSoon", "True", "ExpiringSoon")], [("ExpiringSoon", "ExpiringSoon")]),
        ([condition("ExpiringSoon", "False", "NotExpiring")], []),
        ([condition("Parked", "True", "Expired")], [("Parked", "Expired")]),
        ([condition("Parked", "True", "OverBudget")], [("Parked", "OverBudget")]),
        ([condition("Parked", "False", "Running")], []),
        ([condition("Parked", "False", "WokenByRequest")], [("WokenByRequest", "WokenByRequest")]),
        ([condition("Degraded", "True", "AccessDenied")], [("Degraded", "AccessDenied")]),
        ([condition("Degraded", "False", "AsExpected")], []),
        (
            [
                condition("Parked", "True", "Idle"),
                condition("Degraded", "True", "RouteConflict", at=T2),
            ],
            [("Parked", "Idle"), ("Degraded", "RouteConflict")],
        ),
    ],
)
def test_what_a_person_should_act_on_notifies(
    conditions: list[Condition], expected: list[tuple[str, str]]
) -> None:
    assert [(n.event, n.reason) for n in active_notices(status(*conditions))] == expected


def test_a_transition_is_sent_once_and_only_while_it_is_news() -> None:
    parked = status(condition("Parked", "True", "Expired"))
    active = active_notices(parked)
    assert pending(active, None, NOW) == active
    records = recorded(None, active, active)
    assert records == [NotificationRecord(event="Parked", reason="Expired", at=T)]
    assert pending(active, records, NOW) == []
    assert pending(active, None, NOW + timedelta(hours=2)) == []  # old news


def test_a_new_transition_has_a_new_key_and_old_records_go() -> None:
    first = active_notices(status(condition("Parked", "True", "Expired")))
    records = recorded(None, first, first)
    again = active_notices(status(condition("Parked", "True", "Expired", at=T2)))
    assert pending(again, records, NOW) == again
    assert again[0].key(UID) != first[0].key(UID)
    assert recorded(records, [], again) is None  # the first park is over


def test_each_kind_of_problem_notifies_once_per_episode() -> None:
    a = active_notices(status(condition("Degraded", "True", "AccessDenied")))
    records = recorded(None, a, a)
    b = active_notices(status(condition("Degraded", "True", "RouteConflict")))  # same episode
    assert pending(b, records, NOW) == b
    records = recorded(records, b, b)
    assert pending(a, records, NOW) == []  # back to the first kind: already said
    cleared_then_again = active_notices(
        status(condition("Degraded", "True", "AccessDenied", at=T2))
    )
    assert pending(cleared_then_again, records, NOW) == cleared_then_again


def test_extensions_handed_in_notify_like_transitions() -> None:
    extended = Notice("ExtendedByRequest", "ExtendedByRequest", T, "by apikey-1")
    active = active_notices(status(), [extended])
    assert active == [extended]
    assert recorded(None, active, active) == [extended.record()]


@pytest.mark.parametrize(
    ("namespace", "name"),
    [
        ("team-a", "falcon"),
        ("n" * 63, "x" * 253),
        ("n" * 63, "x" * 252 + "y"),
        ("team-a", "llama-\u00e9t\u00e9"),
    ],
)
def test_the_subject_is_ascii_and_short_even_for_the_longest_names(
    namespace: str, name: str
) -> None:
    text = subject(namespace, name, "Degraded")
    assert len(text) <= SUBJECT_MAX and text.isascii()
    assert text.startswith("sagemeter: ") and text.endswith(" Degraded")
    assert "\n" not in text


def test_long_names_stay_apart_in_the_subject() -> None:
    one, two = (
        subject("n" * 63, "x" * 253, "Expired"),
        subject("n" * 63, "x" * 252 + "y", "Expired"),
    )
    assert one != two
    assert subject("team-a", "falcon", "Expired") == "sagemeter: team-a/falcon Expired"


def test_the_message_says_what_happened_and_how_to_extend() -> None:
    notice = Notice("Parked", "Expired", T, "expired at 2026-11-22T16:50:00Z")
    now_status = status(
        phase="Parked",
        parkedReason="Expired",
        expiresAt="2026-11-22T16:50:00Z",
        hourlyCostUSD="1.52",
    )
    hints = ExtendHints(
        "kubectl sagemeter extend falcon 1h -n team-a",
        'curl -X POST https://api/prod/falcon/_meter -d \'{"extend": "1h"}\'',
    )
    doc = message(
        notice,
        uid=UID,
        namespace="team-a",
        name="falcon",
        status=now_status,
        now=NOW,
        hints=hints,
        max_expires_at="2026-11-23T08:00:00Z",
    )
    assert doc["reason"] == "Expired" and doc["event"] == "Parked"
    assert doc["timeLeft"] == "0s" and doc["expiresAt"] == "2026-11-22T16:50:00Z"
    assert doc["maxExpiresAt"] == "2026-11-23T08:00:00Z"
    assert doc["extend"] == {"kubectl": hints.kubectl, "curl": hints.curl}
    assert doc["dedupeKey"] == f"{UID}/Expired/{T}"
    soon = message(
        Notice("ExpiringSoon", "ExpiringSoon", T, ""),
        uid=UID,
        namespace="team-a",
        name="falcon",
        status=status(expiresAt="2026-11-22T17:08:30Z"),
        now=NOW,
        hints=ExtendHints("kubectl ..."),
    )
    assert soon["timeLeft"] == "8m30s" and "curl" not in soon["extend"]
    assert attributes("team-a", "falcon", notice, UID) == {
        "namespace": "team-a",
        "name": "falcon",
        "reason": "Expired",
        "event": "Parked",
        "dedupeKey": f"{UID}/Expired/{T}",
    }
