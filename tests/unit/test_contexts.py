"""A pass starts from the newest status: the one this process wrote wins over the object's
until the watch brings the write back (its resourceVersion, compared for equality only, or the
written status itself) or, failing that, for a while."""

from __future__ import annotations

from typing import Any

from sagemeter.api.models import ManagedEndpointStatus
from sagemeter.controller.contexts import WRITTEN_KEPT, Contexts
from sagemeter.runtime.settings import Settings

UID = "2f0c5a8e-1d7b-4c53-9b0e-6f1d2a3b4c5d"


def body(version: str, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "namespace": "a",
            "name": "e",
            "uid": UID,
            "generation": 2,
            "resourceVersion": version,
            "creationTimestamp": "2026-01-01T00:00:00Z",
        },
        "spec": {"model": {"container": {"image": "x"}}, "instanceType": "ml.m5.large"},
        "status": status,
    }


def contexts() -> tuple[Contexts, list[float]]:
    now = [0.0]
    return Contexts(Settings(region="us-east-1"), None, clock=lambda: now[0]), now


UPDATING = ManagedEndpointStatus.model_validate(
    {"phase": "Updating", "attemptedConfigName": "new", "endpointConfigName": "new"}
)


def test_the_written_status_wins_until_the_object_shows_it() -> None:
    book, _ = contexts()
    book.wrote(UID, UPDATING, "120")
    stale = book.read(body("118", phase="InService", endpointConfigName="old"))
    assert stale.status.attempted_config_name == "new"
    assert stale.status.phase == "Updating"
    caught_up = book.read(body("120", phase="Updating", attemptedConfigName="new"))
    assert caught_up.status.endpoint_config_name is None  # the object's own, as it is
    # Once caught up the write is forgotten: an older body is what it says.
    assert book.read(body("118", phase="InService")).status.phase == "InService"


def test_after_the_write_the_watch_order_says_what_is_newer() -> None:
    book, _ = contexts()
    book.wrote(UID, UPDATING, "120")
    book.read(body("120", phase="Updating", attemptedConfigName="new"))  # the write is back
    # Whatever the watch brings next is newer, whatever its version reads like.
    assert book.read(body("9", phase="Parked")).status.phase == "Parked"


def test_versions_are_never_collated() -> None:
    """A version that would sort after the write's proves nothing: it may come before it."""
    book, _ = contexts()
    book.wrote(UID, UPDATING, "120")
    for version in ("130", "1200", "119", "abc"):
        assert book.read(body(version, phase="InService")).status.phase == "Updating"


def test_a_body_that_shows_the_written_status_has_caught_up() -> None:
    """The watch may coalesce the write's own event into a later one: that one shows the
    written status, and from there the object's status is read as it is."""
    book, _ = contexts()
    book.wrote(UID, UPDATING, "120")
    written = UPDATING.model_dump(by_alias=True, exclude_none=True)
    assert book.read(body("125", **written)).status == UPDATING
    assert book.read(body("126", phase="Parked")).status.phase == "Parked"


def test_the_written_status_is_kept_for_a_while_at_most() -> None:
    book, now = contexts()
    book.wrote(UID, UPDATING, "not-a-number")
    assert book.read(body("118", phase="InService")).status.phase == "Updating"
    now[0] = WRITTEN_KEPT + 1
    assert book.read(body("118", phase="InService")).status.phase == "InService"


def test_nothing_written_and_a_forgotten_object_read_as_they_are() -> None:
    book, _ = contexts()
    book.wrote(UID, UPDATING, None)  # the object was gone
    assert book.read(body("118", phase="InService")).status.phase == "InService"
    book.wrote(UID, UPDATING, "120")
    book.forget(UID)
    assert book.read(body("118", phase="InService")).status.phase == "InService"
