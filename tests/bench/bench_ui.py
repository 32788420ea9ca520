"""`kubectl sagemeter ui` in headless Chromium (`make bench`): numbers, not pass/fail timings.

* time to first render: from navigation start to the first paint of the rows (the page's
  `performance.now()` in the frame after they are drawn), over 5 loads of 20 endpoints;
* watch event -> row updated over 20 changes: from the moment a patch was sent (and the
  moment the API server acknowledged it) to the moment the page redrew the row in the DOM
  (both on this machine's clock), and from the moment the page's server read the event from
  its watch to that redraw.

No operator: the page shows what the API server holds, and the changes are made here.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from selenium import webdriver

from sagemeter.core.meter.times import format_time
from sagemeter_sandbox import Sandbox

from ..integration.conftest import endpoint_object, wait_for
from ..ui.browser import PageServer, headless_chromium
from .bench_events import percentiles
from .bench_meter import report

pytestmark = pytest.mark.cluster

ROWS = 20
LOADS = 5
CHANGES = 20


@pytest.fixture
def chromium() -> Iterator[webdriver.Chrome]:
    yield from headless_chromium()


def test_first_render_and_watch_to_row(
    sandbox: Sandbox, namespace: str, tmp_path: Path, chromium: webdriver.Chrome
) -> None:
    objects = [endpoint_object(f"row-{i:02d}", expiry={"ttl": "2h"}) for i in range(ROWS)]
    sandbox.kubectl_run(
        "apply",
        "-n",
        namespace,
        "-f",
        "-",
        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}),
    )
    server = PageServer(
        sandbox, tmp_path / "ui.log", "-n", namespace, kubeconfig=sandbox.kubeconfig
    )
    try:
        first = []
        for _ in range(LOADS):
            chromium.get(server.url)
            painted = wait_for(
                "the first paint",
                lambda: chromium.execute_script(
                    "const t = window.sagemeterTimings; return t && t.firstRender;"
                ),
                timeout=30,
            )
            assert len(chromium.find_elements("css selector", "tbody tr")) == ROWS
            first.append(float(painted))

        api = client.CustomObjectsApi(config.new_client_from_config(str(sandbox.kubeconfig)))
        sent: list[float] = []
        acknowledged, received, rendered = [], [], []
        base = datetime.now(UTC) + timedelta(hours=3)
        for index in range(CHANGES):
            name = f"row-{index % ROWS:02d}"
            patch = {
                "spec": {"expiry": {"expiresAt": format_time(base + timedelta(minutes=index))}}
            }
            sent.append(time.time() * 1000)
            done: dict[str, Any] = api.patch_namespaced_custom_object(
                "sagemeter.io", "v1alpha1", namespace, "managedendpoints", name, patch
            )
            acked = time.time() * 1000
            version = done["metadata"]["resourceVersion"]
            update = wait_for(
                f"{name} redrawn at {version}",
                lambda n=name, v=version: chromium.execute_script(
                    "return window.sagemeterTimings.updates.find("
                    "(u) => u.key === arguments[0] && u.resourceVersion === arguments[1]) || null",
                    f"{namespace}/{n}",
                    v,
                ),
                timeout=10,
            )
            acknowledged.append(acked)
            received.append(float(update["receivedAt"]))
            rendered.append(float(update["renderedAt"]))
    finally:
        server.stop()

    report(
        "ui time to first render (ms, 20 rows)",
        {"first load": round(first[0], 1), **percentiles(first)},
    )
    report(
        "ui patch sent -> row redrawn (ms)",
        percentiles([r - s for r, s in zip(rendered, sent, strict=True)]),
    )
    report(
        "ui API acknowledged -> row redrawn (ms)",
        percentiles([r - a for r, a in zip(rendered, acknowledged, strict=True)]),
    )
    report(
        "ui watch event read by the server -> row redrawn (ms)",
        percentiles([r - e for r, e in zip(rendered, received, strict=True)]),
    )
