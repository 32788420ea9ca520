"""A fleet of ManagedEndpoints for the benchmarks: made, patched, listed and deleted in
parallel through the apiserver, with the mix the footprint figures are taken at (one object in
ten with an API route, one in ten with an idle policy)."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
from kubernetes import client as k8s
from kubernetes import config as k8s_config

from sagemeter_sandbox import Sandbox

from ..integration.conftest import endpoint_object

GROUP, VERSION, PLURAL = "sagemeter.io", "v1alpha1", "managedendpoints"
_sqs: dict[str, Any] = {}  # one client per local AWS, made once
# Idle monitoring without a park during a run: an hour of no invocations.
IDLE = {"after": "1h"}


def mixed(namespace: str) -> Callable[[int, str], dict[str, Any]]:
    """The spec extras of the i-th object: a route on every tenth (from the first), an idle
    policy on every tenth (from the sixth), nothing else on the rest."""

    def extras(index: int, name: str) -> dict[str, Any]:
        if index % 10 == 0:
            return {"api": {"path": f"{namespace}/{name}"}}
        if index % 10 == 5:
            return {"idle": IDLE}
        return {}

    return extras


def plain(index: int, name: str) -> dict[str, Any]:
    return {}


class Fleet:
    def __init__(
        self,
        sandbox: Sandbox,
        namespace: str,
        extras: Callable[[int, str], dict[str, Any]] = plain,
    ) -> None:
        self.ns = namespace
        self.extras = extras
        self.api = k8s.CustomObjectsApi(
            k8s_config.new_client_from_config(config_file=str(sandbox.kubeconfig))
        )
        self.pool = ThreadPoolExecutor(8)

    def items(self) -> dict[str, dict[str, Any]]:
        for attempt in range(5):  # a loaded apiserver answers a big LIST with 504 at times
            try:
                found = self.api.list_namespaced_custom_object(GROUP, VERSION, self.ns, PLURAL)
                break
            except k8s.ApiException as error:
                if error.status < 500 or attempt == 4:
                    raise
                time.sleep(2)
        return {item["metadata"]["name"]: item for item in found["items"]}

    def create(self, names: list[str], start: int = 0) -> dict[str, float]:
        """Creates the objects (the i-th gets `extras(start + i, name)`); answers when the
        apiserver accepted each."""

        def one(numbered: tuple[int, str]) -> tuple[str, float]:
            index, name = numbered
            body = endpoint_object(name, **self.extras(index, name))
            self.api.create_namespaced_custom_object(GROUP, VERSION, self.ns, PLURAL, body)
            return name, time.time()

        return dict(self.pool.map(one, enumerate(names, start)))

    def patch(self, patches: dict[str, dict[str, Any]]) -> dict[str, float]:
        """Merge-patches each object; answers when the apiserver accepted each."""

        def one(name: str) -> tuple[str, float]:
            self.api.patch_namespaced_custom_object(
                GROUP, VERSION, self.ns, PLURAL, name, patches[name]
            )
            return name, time.time()

        return dict(self.pool.map(one, patches))

    def delete(self, names: list[str]) -> None:
        list(
            self.pool.map(
                lambda n: self.api.delete_namespaced_custom_object(
                    GROUP, VERSION, self.ns, PLURAL, n
                ),
                names,
            )
        )

    def get(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = self.api.get_namespaced_custom_object(
            GROUP, VERSION, self.ns, PLURAL, name
        )
        return found

    def phases(self) -> dict[str, str | None]:
        return {n: (i.get("status") or {}).get("phase") for n, i in self.items().items()}

    def count_phase(self, phase: str) -> int:
        return sum(found == phase for found in self.phases().values())


def queued_events(sandbox: Sandbox) -> int:
    """Messages in sagemeter's event queues, visible or being handled."""
    sqs = _sqs.get(sandbox.aws_endpoint_url)
    if sqs is None:
        sqs = _sqs[sandbox.aws_endpoint_url] = boto3.client(
            "sqs",
            region_name="us-east-1",
            endpoint_url=sandbox.aws_endpoint_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
    total = 0
    for url in sqs.list_queues(QueueNamePrefix="sagemeter-").get("QueueUrls", []):
        found = sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )
        total += sum(int(v) for v in found["Attributes"].values())
    return total


def wait_fleet(what: str, check: Callable[[], bool], timeout: float) -> None:
    """Like ``wait_for``, but every 2 s: listing 1,000 objects costs the apiserver and this
    process real CPU, which the operator being measured would lose."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(2.0)
