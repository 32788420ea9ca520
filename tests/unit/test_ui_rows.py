"""What a row of `kubectl sagemeter ui` shows, and how the page's hub keeps rows current."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from sagemeter.cli.access import ApiError
from sagemeter.cli.ui.cluster import Hub, Scope, Watcher
from sagemeter.cli.ui.rows import badges, endpoint_row, policy_applies, policy_summary, route


def _endpoint(name: str = "falcon", namespace: str = "team-a", **status: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "namespace": namespace,
            "resourceVersion": "7",
            "generation": 1,
            "creationTimestamp": "2026-11-22T16:00:00Z",
        },
        "spec": {"instanceType": "ml.g5.2xlarge", "expiry": {"ttl": "2h"}, "api": {"path": "f"}},
        "status": status,
    }


def _policy(name: str, selector: dict[str, Any], **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {"namespaceSelector": selector, "budget": {"usdPerHour": "25.00"}},
        "status": status,
    }


def test_a_row_reads_the_object_as_the_plugin_does() -> None:
    obj = _endpoint(
        phase="Parked",
        parkedReason="Idle",
        hourlyCostUSD="1.52",
        invokeUrl="https://x/prod/f",
        idlePark={"parkedAt": "2026-11-22T16:30:00Z"},
        conditions=[
            {"type": "Ready", "status": "False", "reason": "Parked"},
            {"type": "Parked", "status": "True", "reason": "Idle", "message": "no calls"},
            {"type": "Degraded", "status": "True", "reason": "RouteConflict"},
        ],
    )
    row = endpoint_row(obj, ["team-a"])
    assert row == {
        "key": "team-a/falcon",
        "namespace": "team-a",
        "name": "falcon",
        "resourceVersion": "7",
        "phase": "Parked",
        "reason": "Idle,RouteConflict",
        "parkedReason": "Idle",
        "degradedReason": "RouteConflict",
        "expiresAt": "2026-11-22T18:00:00Z",  # creation + ttl
        "costPerHour": "1.52",
        "instance": "ml.g5.2xlarge",
        "route": {"url": "https://x/prod/f", "path": "f", "authorization": "AWS_IAM"},
        "badges": [
            {"type": "Parked", "text": "Parked: Idle", "message": "no calls"},
            {"type": "Degraded", "text": "Degraded: RouteConflict", "message": ""},
        ],
        "suspended": False,
        "idleParked": True,
        "policies": ["team-a"],
    }


def test_badges_and_route_in_their_short_forms() -> None:
    ready = {"conditions": [{"type": "Ready", "status": "True", "reason": "InService"}]}
    assert [b["text"] for b in badges(ready)] == ["Ready"]
    soon = {"conditions": [{"type": "ExpiringSoon", "status": "True", "reason": "ExpiringSoon"}]}
    assert [b["text"] for b in badges(soon)] == ["ExpiringSoon"]
    assert route({}, {}) is None
    spec = {"api": {"path": "llama", "authorization": "API_KEY"}}
    assert route(spec, {}) == {"url": None, "path": "llama", "authorization": "API_KEY"}


@pytest.mark.parametrize(
    ("selector", "labels", "applies"),
    [
        ({"names": ["team-a"]}, None, True),
        ({"names": ["team-b"]}, None, False),
        ({"labelSelector": {}}, None, True),  # {} selects every namespace
        ({"labelSelector": {"matchLabels": {"tenant": "a"}}}, {"tenant": "a"}, True),
        ({"labelSelector": {"matchLabels": {"tenant": "a"}}}, {"tenant": "b"}, False),
        # Labels unknown (the user may not read namespaces): a label selector is not guessed.
        ({"labelSelector": {"matchLabels": {"tenant": "a"}}}, None, False),
        (
            {"labelSelector": {"matchExpressions": [{"key": "x", "operator": "DoesNotExist"}]}},
            None,
            False,
        ),
        (
            {"labelSelector": {"matchExpressions": [{"key": "x", "operator": "DoesNotExist"}]}},
            {},
            True,
        ),
        ({"bogus": True}, {}, False),  # not a policy this version understands
    ],
)
def test_policy_applies(
    selector: dict[str, Any], labels: dict[str, str] | None, applies: bool
) -> None:
    assert policy_applies(_policy("p", selector), "team-a", labels) is applies


def test_policy_summary() -> None:
    policy = _policy("team-a", {"names": ["x"]}, usdPerHour="12.40", waiting=2)
    assert policy_summary(policy) == {
        "name": "team-a",
        "usdPerHour": "12.40",
        "budget": "25.00",
        "waiting": 2,
    }
    unbudgeted = {"metadata": {"name": "open"}, "spec": {"namespaceSelector": {}}}
    assert policy_summary(unbudgeted)["budget"] is None
    assert policy_summary(unbudgeted)["usdPerHour"] == "0.00"


def test_the_hub_sends_a_snapshot_then_changes() -> None:
    async def scenario() -> None:
        asked: list[str] = []
        hub = Hub(Scope("ctx", None), asked.append)
        page = hub.subscribe()
        first = page.get_nowait()
        assert (first["type"], first["rows"], first["scope"]) == ("snapshot", [], "all namespaces")

        hub.endpoints_listed([_endpoint("b"), _endpoint("a")])
        listed = page.get_nowait()
        assert [r["name"] for r in listed["rows"]] == ["a", "b"]

        hub.endpoint_event("MODIFIED", _endpoint("a", phase="InService"), 1.5)
        changed = page.get_nowait()
        assert (changed["type"], changed["row"]["phase"], changed["receivedAt"]) == (
            "row",
            "InService",
            1.5,
        )
        hub.endpoint_event("DELETED", _endpoint("b"), 2.0)
        assert page.get_nowait() == {"type": "gone", "key": "team-a/b", "receivedAt": 2.0}

        # A policy by label: the namespace's labels are asked for, then the rows redrawn.
        hub.policies_listed([_policy("tenants", {"labelSelector": {"matchLabels": {"t": "a"}}})])
        assert page.get_nowait()["rows"][0]["policies"] == []
        assert asked == ["team-a"]
        hub.labels_read("team-a", {"t": "a"})
        assert page.get_nowait()["row"]["policies"] == ["tenants"]

        hub.health_changed("policies", False, "403 Forbidden: no")
        assert page.get_nowait()["health"]["policies"] == {
            "ok": False,
            "message": "403 Forbidden: no",
        }
        late = hub.subscribe()  # a page opened now starts from the current state
        assert late.get_nowait()["rows"][0]["phase"] == "InService"
        hub.close()
        assert page.get_nowait() is None and late.get_nowait() is None

    asyncio.run(scenario())


def test_the_watcher_lists_again_when_its_version_expired_and_reports_refusals() -> None:
    """List, watch from the list's version (bookmarks move it on), list again on 410 Gone,
    report any other refusal as the API worded it and try again."""

    async def scenario() -> list[tuple[Any, ...]]:
        loop = asyncio.get_running_loop()
        seen: list[tuple[Any, ...]] = []
        done = asyncio.Event()
        lists = iter(
            [
                {"metadata": {"resourceVersion": "1"}, "items": [_endpoint("a")]},
                ApiError(403, "Forbidden", 'cannot list "managedendpoints"'),
                {"metadata": {"resourceVersion": "9"}, "items": []},
            ]
        )
        watched: list[str] = []

        def list_objects() -> dict[str, Any]:
            item = next(lists)
            if isinstance(item, Exception):
                raise item
            return item

        def watch_objects(version: str) -> Iterator[dict[str, Any]]:
            watched.append(version)
            if version == "1":
                yield {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "2"}}}
                return  # the watch timed out: go on from the bookmark
            if version == "2":
                yield {
                    "type": "MODIFIED",
                    "object": {
                        **_endpoint("a"),
                        "metadata": {**_endpoint("a")["metadata"], "resourceVersion": "3"},
                    },
                }
                raise ApiError(410, "Gone", "too old resource version")
            watcher.stopped.set()
            loop.call_soon_threadsafe(done.set)
            yield from ()

        watcher = Watcher(
            "endpoints",
            loop,
            list_objects,
            watch_objects,
            lambda items: seen.append(("listed", len(items))),
            lambda kind, obj, at: seen.append((kind, obj["metadata"]["resourceVersion"])),
            lambda name, ok, message: seen.append(("health", ok, message)),
        )
        watcher.start()
        await asyncio.wait_for(done.wait(), 10)
        await asyncio.sleep(0)
        assert watched == ["1", "2", "9"]
        return seen

    seen = asyncio.run(scenario())
    assert seen == [
        ("listed", 1),
        ("health", True, "watching"),
        ("MODIFIED", "3"),
        ("health", False, '403 Forbidden: cannot list "managedendpoints"'),  # after 410: listed
        ("listed", 0),
        ("health", True, "watching"),
    ]
