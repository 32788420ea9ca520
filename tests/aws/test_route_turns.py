"""Route changes of one namespace wait for their turn without a worker thread.

A namespace's routes live in one REST API, whose changes the route manager makes one at a time
(under the API's lock). A hundred endpoints parked at once used to send a hundred route changes
to the worker pool together: all but one of them waited for that lock inside a thread, the
namespace's whole share of the threads was taken, and its expiries' DeleteEndpoint calls queued
behind them (the scale benchmark's 50-per-second storm: 5 s per route change held a thread).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from sagemeter.api.models import ManagedEndpoint
from sagemeter.routes.manager import RouteManager
from sagemeter.routes.sync import RouteSync
from sagemeter.runtime.context import Context
from sagemeter.runtime.kube import Kube
from sagemeter.runtime.workers import LANE, Workers
from tests.contexts import context

from .conftest import REGION, client
from .test_apigateway import ROLE, settings

pytestmark = [pytest.mark.timeout(180), pytest.mark.usefixtures("aws_env")]

ROUTES = 8


def routed(uid: str, namespace: str = "team-a") -> Context:
    ctx = context(uid, namespace=namespace)
    body = ctx.obj.model_dump(by_alias=True, exclude_none=True)
    body["spec"]["api"] = {"path": f"{namespace}/{uid}", "authorization": "AWS_IAM"}
    return replace(ctx, obj=ManagedEndpoint.model_validate(body), invoke_role=ROLE)


@pytest.fixture
def manager() -> Iterator[RouteManager]:
    made = RouteManager(settings(), quiet_seconds=0.3, max_delay_seconds=2.0)
    yield made
    made.close()  # no deployment thread outlives the test


def test_a_namespaces_route_changes_hold_one_worker_thread_at_a_time(
    manager: RouteManager,
) -> None:
    inside: dict[str, int] = {}
    most: dict[str, int] = {}
    finished = {"team-a": 0, "team-c": 0}
    began = threading.Event()
    lock = threading.Lock()
    ensure = manager.ensure

    def counted(route: Any, site: Any, previous: str | None = None) -> Any:
        namespace = route.owner.namespace
        with lock:
            inside[namespace] = inside.get(namespace, 0) + 1
            most[namespace] = max(most.get(namespace, 0), inside[namespace])
        began.set()
        try:
            return ensure(route, site, previous)
        finally:
            with lock:
                inside[namespace] -= 1
                finished[namespace] += 1

    manager.ensure = counted  # type: ignore[method-assign]
    workers = Workers(threads=4)  # a namespace's share: 2
    sync = RouteSync(settings(), Kube(), workers, lambda *_: None, manager=manager)

    async def one(ctx: Context) -> Any:
        LANE.set(ctx.namespace)
        return await sync.sync(ctx)

    async def quick() -> int:
        """Another call of the namespace, sent once its route changes have begun: how many of
        them had finished when it ran."""
        LANE.set("team-a")
        await asyncio.to_thread(began.wait, 10)
        return await workers.run(lambda: finished["team-a"])

    # Each namespace's REST API first (a new REST API may wait for its quota slot).
    apigw = client("apigateway", REGION)
    deadline = time.monotonic() + 30
    while len(apigw.get_rest_apis()["items"]) < 2 and time.monotonic() < deadline:
        asyncio.run(one(routed("warm-a")))
        asyncio.run(one(routed("warm-c", "team-c")))
        time.sleep(0.2)
    assert len(apigw.get_rest_apis()["items"]) == 2
    began.clear()
    most.clear()
    finished.update({"team-a": 0, "team-c": 0})

    async def run() -> tuple[list[Any], int]:
        team_a = [one(routed(f"r{i}")) for i in range(ROUTES)]
        team_c = [one(routed(f"c{i}", "team-c")) for i in range(2)]
        *outcomes, ran_after = await asyncio.gather(*team_a, *team_c, quick())
        return outcomes, ran_after

    outcomes, ran_after = asyncio.run(run())
    assert all(o.problem is None for o in outcomes), outcomes
    assert most["team-a"] == 1  # one thread in the manager at a time for the namespace
    assert most["team-c"] == 1
    assert finished == {"team-a": ROUTES, "team-c": 2}
    api_of = {api["name"]: api["id"] for api in apigw.get_rest_apis()["items"]}
    paths = {
        r["path"]
        for api_id in api_of.values()
        for r in apigw.get_resources(restApiId=api_id, limit=500)["items"]
        if "POST" in (r.get("resourceMethods") or {})
    }
    assert {f"/team-a/r{i}" for i in range(ROUTES)} <= paths
    # The namespace's other call found its second thread free, not behind its eight routes.
    assert ran_after < ROUTES - 1, ran_after
