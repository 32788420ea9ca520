"""The chaos run's false-park judgement (``tests/chaos/report.py``), on made-up timelines."""

from __future__ import annotations

import pytest

from ..chaos.report import FaultWindow, Timeline, false_parks

pytestmark = pytest.mark.localaws


def timeline() -> Timeline:
    line = Timeline(endpoints={"ep-steady": "steady", "ep-churn": "churn"})
    line.intend(["steady", "churn"], "run", at=100.0)
    line.intend(["churn"], "park", at=200.0)
    line.intend(["churn"], "run", at=300.0)
    line.intend(["steady", "churn"], "delete", at=400.0)
    return line


def delete(name: str, ts: float, status: int = 200) -> dict[str, object]:
    return {"call": "sagemaker:DeleteEndpoint", "name": name, "ts": ts, "status": status}


def test_deletes_asked_for_are_not_false_parks() -> None:
    parks, per_object = false_parks(
        timeline(),
        [delete("ep-churn", 201.0), delete("ep-churn", 401.0), delete("ep-steady", 400.5)],
        [],
    )
    assert parks == []
    assert per_object == {"steady": 1, "churn": 2}


def test_a_delete_while_the_intent_is_run_is_a_false_park_with_its_faults() -> None:
    outage = FaultWindow("aws-outage", 120.0, 180.0)
    later = FaultWindow("operator-kill", 390.0, 395.0)
    parks, _ = false_parks(
        timeline(), [delete("ep-steady", 150.0), delete("ep-churn", 350.0)], [outage, later]
    )
    assert parks == [
        {
            "object": "steady",
            "endpoint": "ep-steady",
            "ts": 150.0,
            "faults_within_60s": ["aws-outage"],
        },
        {"object": "churn", "endpoint": "ep-churn", "ts": 350.0, "faults_within_60s": []},
    ]


def test_refused_and_foreign_deletes_do_not_count() -> None:
    parks, per_object = false_parks(
        timeline(), [delete("ep-steady", 150.0, status=400), delete("someone-else", 150.0)], []
    )
    assert parks == [] and per_object == {"steady": 0, "churn": 0}
