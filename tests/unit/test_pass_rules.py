"""The rules a reconcile pass follows around its step, each a pure function in `core/`:
how to observe, what deletion does, when tags and garbage are settled, when a kept config is
reused, when a create resumes a park, what dry run holds back, what a spec deploys on, who may
hold a route path, and which endpoints discovery adopts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sagemeter.api.models import EndpointIncarnation, ManagedEndpointStatus, Phase
from sagemeter.core.discovery import adopt_object, object_name, qualifies
from sagemeter.core.endpoint.deletion import plan_deletion
from sagemeter.core.endpoint.observe import Sighting, Source, how_to_observe
from sagemeter.core.endpoint.ownership import Incarnation, Owner, OwnershipVerdict, proof_for
from sagemeter.core.endpoint.plan import (
    Action,
    EndpointView,
    Step,
    dry_run_holds_back,
    recreate_kept_config,
    resumes,
    reuses_kept_config,
    settle_work,
)
from sagemeter.core.endpoint.targets import (
    EulaRefused,
    adopted_config_name,
    execution_role,
    gated_model_source,
)
from sagemeter.core.routes import RouteRecord, route_conflict

OWNER = Owner("team-a", "falcon", "uid-a")
T0 = datetime(2026, 11, 28, 7, 0, tzinfo=UTC)
NOW = Incarnation("ep", T0, T0 + timedelta(minutes=5))


def status(**fields: object) -> ManagedEndpointStatus:
    base: dict[str, object] = {
        "phase": Phase.IN_SERVICE,
        "sagemaker_status": "InService",
        "observed_generation": 2,
        "endpoint_config_name": "ep-c-1",
        "incarnation": proof_for(NOW, OWNER),
        "variant_names": ["AllTraffic"],
    }
    base.update(fields)
    return ManagedEndpointStatus(**base)  # type: ignore[arg-type]


# -- observe ---------------------------------------------------------------------------------

OBSERVE = [
    (
        "settled, same incarnation and revision: the sweep is enough",
        status(),
        2,
        Sighting("InService", NOW),
        Source.SWEEP,
    ),
    (
        "serving, variants never recorded (a status from before): described once",
        status(variant_names=None),
        2,
        Sighting("InService", NOW),
        Source.DESCRIBE,
    ),
    (
        "failed, no variants to know: the sweep is enough",
        status(sagemaker_status="Failed", variant_names=None),
        2,
        Sighting("Failed", NOW),
        Source.SWEEP,
    ),
    ("a spec change describes", status(), 3, Sighting("InService", NOW), Source.DESCRIBE),
    (
        "a transition describes",
        status(sagemaker_status="Creating"),
        2,
        Sighting("Creating", NOW),
        Source.DESCRIBE,
    ),
    ("a status change describes", status(), 2, Sighting("Updating", NOW), Source.DESCRIBE),
    (
        "re-created under the same name (new creation time) describes",
        status(),
        2,
        Sighting("InService", Incarnation("ep", T0 + timedelta(hours=1), NOW.last_modified)),
        Source.DESCRIBE,
    ),
    (
        "an out-of-band update (new modification time) describes",
        status(),
        2,
        Sighting("InService", Incarnation("ep", T0, T0 + timedelta(hours=2))),
        Source.DESCRIBE,
    ),
    (
        "no proof in status describes",
        status(incarnation=None),
        2,
        Sighting("InService", NOW),
        Source.DESCRIBE,
    ),
    (
        "another object's proof describes",
        status(
            incarnation=EndpointIncarnation(
                endpoint_name="ep", creation_time="x", owner_uid="other"
            )
        ),
        2,
        Sighting("InService", NOW),
        Source.DESCRIBE,
    ),
    (
        "parked, unchanged and not in the sweep is absent",
        status(phase=Phase.PARKED, sagemaker_status=None),
        2,
        Sighting(None),
        Source.ABSENT,
    ),
    (
        "parked but changed is described",
        status(phase=Phase.PARKED, sagemaker_status=None),
        3,
        Sighting(None),
        Source.DESCRIBE,
    ),
    (
        "running and not in the sweep is described before anything is created",
        status(),
        2,
        Sighting(None),
        Source.DESCRIBE,
    ),
]


@pytest.mark.parametrize(
    ("case", "old", "generation", "sighting", "source"), OBSERVE, ids=[row[0] for row in OBSERVE]
)
def test_how_to_observe(
    case: str, old: ManagedEndpointStatus, generation: int, sighting: Sighting, source: Source
) -> None:
    assert how_to_observe(old, generation, sighting, OWNER) == source, case


# -- deletion --------------------------------------------------------------------------------

IN_SERVICE = EndpointView("InService", "ep-c-1")
CREATING = EndpointView("Creating", "ep-c-1")
# (case, policy, dry_run, adopt, verdict, endpoint, step action, release, drop alarm, route,
#  gc, done)
DELETION = [
    (
        "retain leaves everything and tags ours released",
        "Retain",
        False,
        False,
        OwnershipVerdict.OURS,
        IN_SERVICE,
        None,
        True,
        False,
        False,
        False,
        True,
    ),
    (
        "retain of an endpoint gone releases nothing",
        "Retain",
        False,
        False,
        None,
        None,
        None,
        False,
        False,
        False,
        False,
        True,
    ),
    (
        "retain releases an adopted endpoint of ours",
        "Retain",
        False,
        True,
        OwnershipVerdict.OURS,
        IN_SERVICE,
        None,
        True,
        True,
        False,
        False,
        True,
    ),
    (
        "retain never releases someone else's",
        "Retain",
        False,
        True,
        OwnershipVerdict.FOREIGN,
        IN_SERVICE,
        None,
        False,
        False,
        False,
        False,
        True,
    ),
    (
        "dry run deletes nothing",
        "Delete",
        True,
        False,
        OwnershipVerdict.OURS,
        IN_SERVICE,
        None,
        False,
        False,
        False,
        False,
        True,
    ),
    (
        "someone else's endpoint is left; own route and garbage go",
        "Delete",
        False,
        False,
        OwnershipVerdict.FOREIGN,
        IN_SERVICE,
        None,
        False,
        False,
        True,
        True,
        True,
    ),
    (
        "an unadopted endpoint is left",
        "Delete",
        False,
        True,
        OwnershipVerdict.ADOPTABLE,
        IN_SERVICE,
        None,
        False,
        False,
        True,
        False,
        True,
    ),
    (
        "ours is deleted first",
        "Delete",
        False,
        False,
        OwnershipVerdict.OURS,
        IN_SERVICE,
        Action.DELETE,
        False,
        False,
        False,
        False,
        False,
    ),
    (
        "ours while Creating waits",
        "Delete",
        False,
        False,
        OwnershipVerdict.OURS,
        CREATING,
        Action.WAIT,
        False,
        False,
        False,
        False,
        False,
    ),
    (
        "gone: everything of ours goes",
        "Delete",
        False,
        False,
        None,
        None,
        None,
        False,
        True,
        True,
        True,
        True,
    ),
    (
        "gone, adopted: models and configs were never ours",
        "Delete",
        False,
        True,
        None,
        None,
        None,
        False,
        True,
        True,
        False,
        True,
    ),
]


@pytest.mark.parametrize(
    (
        "case",
        "policy",
        "dry_run",
        "adopt",
        "verdict",
        "endpoint",
        "action",
        "release",
        "drop_alarm",
        "remove_route",
        "collect",
        "done",
    ),
    DELETION,
    ids=[r[0] for r in DELETION],
)
def test_plan_deletion(
    case: str,
    policy: str,
    dry_run: bool,
    adopt: bool,
    verdict: OwnershipVerdict | None,
    endpoint: EndpointView | None,
    action: Action | None,
    release: bool,
    drop_alarm: bool,
    remove_route: bool,
    collect: bool,
    done: bool,
) -> None:
    plan = plan_deletion(policy, dry_run, adopt, verdict, endpoint, "ep")
    assert (plan.step.action if plan.step else None) == action, case
    assert (plan.release, plan.drop_alarm, plan.remove_route, plan.collect_garbage, plan.done) == (
        release,
        drop_alarm,
        remove_route,
        collect,
        done,
    ), case
    assert (plan.event is not None) == done, case


def test_deletion_of_someone_elses_endpoint_warns() -> None:
    plan = plan_deletion("Delete", False, False, OwnershipVerdict.FOREIGN, IN_SERVICE, "ep")
    assert plan.event is not None and plan.event[:2] == ("Warning", "NotDeleted")


# -- around the step -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec_changed", "was_serving", "recorded", "owns_config", "sync_tags", "collect"),
    [
        (False, True, "c-new", True, False, False),  # steady state: nothing
        (True, True, "c-new", True, True, False),  # a spec change with no redeploy: tags
        (False, False, "c-new", True, True, False),  # a first create supersedes nothing
        (False, True, "c-old", True, True, True),  # arrived, the status patch was lost: both
        (False, False, "c-new", False, True, False),  # a config named by the spec: never GC
        (True, False, None, False, True, False),
    ],
)
def test_settle_work(
    spec_changed: bool,
    was_serving: bool,
    recorded: str | None,
    owns_config: bool,
    sync_tags: bool,
    collect: bool,
) -> None:
    work = settle_work(spec_changed, was_serving, recorded, "c-new", owns_config)
    assert (work.sync_tags, work.collect_garbage) == (sync_tags, collect)


def test_kept_config_rules() -> None:
    assert reuses_kept_config("ep-c-1", "ep-c-1")
    assert not reuses_kept_config("ep-c-1", "ep-c-2")
    assert not reuses_kept_config(None, "ep-c-1")
    assert recreate_kept_config(kept=True, config_missing=True)
    assert not recreate_kept_config(kept=True, config_missing=False)
    assert not recreate_kept_config(kept=False, config_missing=True)


@pytest.mark.parametrize(
    ("action", "dry_run", "running", "held"),
    [
        (Action.DELETE, True, False, True),  # a park in dry run is only reported
        (Action.DELETE, False, False, False),
        (Action.DELETE, True, True, False),  # replacing a failed endpoint still happens
        (Action.CREATE, True, True, False),
        (Action.NOTHING, True, False, False),
    ],
)
def test_dry_run_holds_back_parks_only(
    action: Action, dry_run: bool, running: bool, held: bool
) -> None:
    step = Step(action, Phase.DELETING, "Expired", "x")
    assert dry_run_holds_back(step, dry_run, running) is held


@pytest.mark.parametrize(
    ("action", "phase", "resuming"),
    [
        (Action.CREATE, Phase.PARKED, True),
        # A wake right after the park's delete (or during it): the status still says Deleting.
        (Action.CREATE, Phase.DELETING, True),
        (Action.CREATE, None, False),  # a first create
        (Action.CREATE, Phase.FAILED, False),  # a failed endpoint replaced
        (Action.UPDATE, Phase.PARKED, False),
        (Action.DELETE, Phase.DELETING, False),
    ],
)
def test_a_create_resumes_a_parked_endpoint(
    action: Action, phase: Phase | None, resuming: bool
) -> None:
    assert resumes(action, phase) is resuming


# -- targets ---------------------------------------------------------------------------------


def test_adopted_config_prefers_what_sagemaker_shows() -> None:
    assert adopted_config_name("seen", "recorded") == "seen"
    assert adopted_config_name(None, "recorded") == "recorded"
    assert adopted_config_name(None, None) is None


@pytest.mark.parametrize(
    ("spec", "policy", "operator", "expected"),
    [("s", "p", "o", "s"), (None, "p", "o", "p"), (None, None, "o", "o"), (None, None, None, None)],
)
def test_execution_role_precedence(
    spec: str | None, policy: str | None, operator: str | None, expected: str | None
) -> None:
    assert execution_role(spec, policy, operator) == expected


def test_gated_models_need_the_eula() -> None:
    source = {"S3DataSource": {"S3Uri": "s3://b/m/", "S3DataType": "S3Prefix"}}
    assert gated_model_source(source, None, False) == source
    assert gated_model_source(source, "s3://eula", False) == EulaRefused("s3://eula")
    accepted = gated_model_source(source, "s3://eula", True)
    assert isinstance(accepted, dict)
    assert accepted["S3DataSource"]["ModelAccessConfig"] == {"AcceptEula": True}
    assert "ModelAccessConfig" not in source["S3DataSource"]  # the input is left as it was


# -- routes and discovery --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("exists", "holder", "conflict"),
    [
        (False, None, None),
        (True, RouteRecord("uid-a", "f" * 12, "team-a", "falcon"), None),
        (True, RouteRecord("uid-b", "f" * 12, "team-b", "falcon"), "team-b/falcon"),
        (True, None, "not managed by sagemeter"),
    ],
)
def test_route_conflict(exists: bool, holder: RouteRecord | None, conflict: str | None) -> None:
    found = route_conflict(exists, holder, "uid-a")
    assert (found is None) == (conflict is None)
    if conflict is not None:
        assert found is not None and conflict in found


@pytest.mark.parametrize(
    ("tags", "qualifies_"),
    [
        ({"auto-maintain": "true"}, True),
        ({"auto-maintain": "false"}, False),
        ({}, False),
        ({"auto-maintain": "true", "sagemeter.io/opt-out": "true"}, False),
        ({"auto-maintain": "true", "sagemeter.io/managed-by": "sagemeter"}, False),
    ],
)
def test_discovery_qualifies(tags: dict[str, str], qualifies_: bool) -> None:
    assert qualifies(tags, ("auto-maintain", "true")) is qualifies_


def test_discovered_objects_retain_their_endpoint() -> None:
    body = adopt_object("Notebook_7", "arn:x", "adopted", "1h")
    assert body["spec"] == {
        "adopt": True,
        "endpointName": "Notebook_7",
        "idle": {"after": "1h"},
        "deletionPolicy": "Retain",
    }
    assert object_name("Notebook_7") != object_name("notebook-7")


def test_a_collection_aws_refused_is_tried_again_on_the_next_pass() -> None:
    # Serving the target already (no arrival), but the last collection failed.
    assert settle_work(False, True, "c-new", "c-new", True, cleanup_pending=True).collect_garbage
    assert not settle_work(False, True, "c-new", "c-new", True).collect_garbage
    # Never for a config sagemeter did not make.
    not_ours = settle_work(False, True, "c-new", "c-new", False, cleanup_pending=True)
    assert not not_ours.collect_garbage
