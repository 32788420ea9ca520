"""Adopt by tag: endpoints tagged `SAGEMETER_ADOPT_TAG` become ManagedEndpoints.

Each sweep lists the region's endpoints (the same paged `ListEndpoints` as the
reconcile sweeps) and reads the tags of endpoints it has not seen recently; an
endpoint with the tag, not yet managed and not opted out gets an adopt-mode
object in `SAGEMETER_ADOPT_NAMESPACE` with the default idle policy. Creating
the same object twice is a no-op (the name is derived from the endpoint), so
re-discovery is idempotent. Deleting such an object releases the endpoint and
tags it `sagemeter.io/opt-out=true`; discovery leaves opted-out endpoints alone
until someone removes that tag.
"""

from __future__ import annotations

import asyncio
import logging
import time

from sagemeter.aws.clients import client
from sagemeter.aws.sagemaker import SageMakerGateway
from sagemeter.core.discovery import adopt_object, qualifies
from sagemeter.runtime.kube import Kube, NamespaceMissing
from sagemeter.runtime.metrics import DISCOVERY_NAMESPACE_MISSING
from sagemeter.runtime.settings import Settings
from sagemeter.runtime.workers import Workers

log = logging.getLogger("sagemeter")


class Discovery:
    def __init__(self, settings: Settings, kube: Kube, workers: Workers) -> None:
        assert settings.adopt_tag is not None
        self.settings = settings
        self.kube = kube
        self.workers = workers
        self.key, _, self.value = settings.adopt_tag.partition("=")
        self._tags: dict[str, tuple[float, dict[str, str]]] = {}
        self._tag_max_age = 10 * settings.sync_seconds
        self._missing = False

    async def sweep(self, region: str) -> list[str]:
        """One discovery pass; returns the names of the objects it created."""
        gateway = SageMakerGateway(region, client("sagemaker", region))
        endpoints = await self.workers.run(gateway.sweep_endpoints)
        # Tags of endpoints no longer listed are not kept.
        listed = {summary.arn for summary in endpoints.values()}
        for arn in [arn for arn in self._tags if arn not in listed]:
            del self._tags[arn]
        created: list[str] = []
        for name, summary in sorted(endpoints.items()):
            tags = await self._tags_of(gateway, summary.arn)
            if not qualifies(tags, (self.key, self.value)):
                continue
            body = adopt_object(
                name, summary.arn, self.settings.adopt_namespace, self.settings.adopt_idle_after
            )
            try:
                made = await self.workers.run(self.kube.create, body)
            except NamespaceMissing:
                self._namespace_missing(True)
                return created
            self._namespace_missing(False)
            if made:
                log.info("discovered endpoint %s: created %s", name, body["metadata"]["name"])
                created.append(body["metadata"]["name"])
            # Adoption tags it; read the tags again next time.
            self._tags.pop(summary.arn, None)
        return created

    def _namespace_missing(self, missing: bool) -> None:
        """One log line when the namespace goes missing (and one when it is back), and the
        gauge `sagemeter_discovery_namespace_missing` meanwhile, instead of a traceback per
        sweep."""
        namespace = self.settings.adopt_namespace
        DISCOVERY_NAMESPACE_MISSING.labels(namespace=namespace).set(1 if missing else 0)
        if missing and not self._missing:
            log.error(
                "tag discovery cannot create objects: namespace %s (SAGEMETER_ADOPT_NAMESPACE)"
                " does not exist; create it (kubectl create namespace %s) or set"
                " SAGEMETER_ADOPT_NAMESPACE to one that does",
                namespace,
                namespace,
            )
        elif not missing and self._missing:
            log.info("tag discovery: namespace %s exists now", namespace)
        self._missing = missing

    async def _tags_of(self, gateway: SageMakerGateway, arn: str) -> dict[str, str]:
        now = time.monotonic()
        cached = self._tags.get(arn)
        if cached is not None and now - cached[0] < self._tag_max_age:
            return cached[1]
        tags = await self.workers.run(gateway.list_tags, arn)
        self._tags[arn] = (now, tags)
        return tags

    async def run_forever(self, region: str) -> None:
        while True:
            try:
                await self.sweep(region)
            except Exception:  # a failed sweep is retried at the next interval
                log.exception("endpoint discovery in %s failed", region)
            await asyncio.sleep(self.settings.sync_seconds)
