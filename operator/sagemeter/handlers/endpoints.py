"""kopf registrations for ManagedEndpoint: thin, every one calls the Reconciler.

A daemon per object runs the reconcile pass and then sleeps until the next
deadline the pass reports (expiry, schedule edge, poll while SageMaker works,
periodic sync); a spec or annotation change wakes it at once. Deletion runs the
finalizer. Nothing here decides anything.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import kopf

from sagemeter.api.models import GROUP, PLURAL, VERSION, WAKE_ANNOTATION
from sagemeter.aws.clients import set_assumed_role_seconds
from sagemeter.aws.own_account import OwnAccount
from sagemeter.controller.orphans import Orphans
from sagemeter.controller.reconciler import Reconciler
from sagemeter.discovery.sweeper import Discovery
from sagemeter.runtime import metrics
from sagemeter.runtime.diffbase import NoDiffBase
from sagemeter.runtime.kube import Kube
from sagemeter.runtime.kubeconfig import login
from sagemeter.runtime.loops import Loops, NextPass
from sagemeter.runtime.probes import HEALTH
from sagemeter.runtime.settings import Settings
from sagemeter.tenancy.service import TenancyService

log = logging.getLogger("sagemeter")
RESOURCE = (GROUP, VERSION, PLURAL)
# After a pass that failed outright (a bug, or the apiserver refusing the status patch): retry
# soon, then less often, so a short apiserver outage costs seconds and a lasting one is not
# hammered.
ERROR_BACKOFF_FIRST = 2.0
ERROR_BACKOFF_MAX = 30.0


def post_event(body: Any, type_: str, reason: str, message: str) -> None:
    kopf.event(body, type=type_, reason=reason, message=message[:1024])


# A replica that dies without a goodbye is replaced once its peering record expires: 20 s
# instead of kopf's 60 s keeps the failover short (docs/install.md says so; a test checks).
PEERING_LIFETIME_SECONDS = 20


@kopf.on.login()
def log_in(settings: kopf.OperatorSettings, **_: Any) -> kopf.ConnectionInfo:
    """kopf and sagemeter's own calls log in the same way (`runtime.kubeconfig`)."""
    return login(settings.networking.trust_env)


@kopf.on.startup()
async def configure(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    settings.persistence.finalizer = f"{GROUP}/finalizer"
    # The CRD's status schema is strict: kopf keeps its bookkeeping in annotations.
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    # No create, update or field handlers: no diff base to keep (`runtime.diffbase`).
    settings.persistence.diffbase_storage = NoDiffBase()
    settings.posting.level = logging.WARNING
    settings.watching.server_timeout = 300
    settings.peering.lifetime = PEERING_LIFETIME_SECONDS
    config: Settings = memo.get("settings") or Settings()
    kube = Kube()
    if not config.cluster_id:  # `sagemeter run` knows it already (cli.startup.cluster_id)
        uid = kube.api.request("GET", "/api/v1/namespaces/kube-system")["metadata"]["uid"]
        config = config.model_copy(update={"cluster_id": str(uid)})
    if config.metrics_port:
        metrics.serve(config.metrics_port)
    set_assumed_role_seconds(config.assume_role_seconds)
    loops = memo["loops"] = Loops()
    memo["seen"] = {}

    tenancy = TenancyService(config, kube, None, loops.wake, loops.wake_namespaces)
    tenancy.start()
    memo["tenancy"] = tenancy
    reconciler = Reconciler(
        config,
        kube,
        post_event,
        tenancy=tenancy.tenancy,
        book=tenancy.book,
        nudge=loops.wake,
        account=OwnAccount(config.region),
        # Object loops run only while peering lets this replica act (kopf stops them on a
        # pause): no loop, no background receiving either.
        active=lambda: bool(loops),
    )
    memo["reconciler"] = reconciler
    metrics.KEPT.watch(
        {
            **reconciler.kept(),
            "loops": lambda: len(loops),
            "wake_keys": lambda: len(memo["seen"]),
        }
    )
    orphans = Orphans(
        config,
        reconciler.kube,
        reconciler.workers,
        reconciler.observer,
        tenancy.book,
        tenancy.tenancy,
        reconciler.prices,
        served=memo.get("namespaces") or None,
    )
    # With peering, only the replica that runs the objects' loops acts on orphans.
    standalone = not memo.get("peering")
    memo["orphans"] = asyncio.create_task(orphans.run_forever(lambda: standalone or bool(loops)))
    if config.adopt_tag:
        discovery = Discovery(config, reconciler.kube, reconciler.workers)
        memo["discovery"] = asyncio.create_task(discovery.run_forever(config.region))
    HEALTH.mark_started()  # readiness: this replica can reconcile from now on


@kopf.on.cleanup()
async def stop_discovery(memo: kopf.Memo, **_: Any) -> None:
    for task in (memo.get("discovery"), memo.get("orphans")):
        if task is not None:
            task.cancel()
    tenancy = memo.get("tenancy")
    if tenancy is not None:
        tenancy.stop()
    reconciler = memo.get("reconciler")
    if reconciler is not None:
        reconciler.waking.stop()
        reconciler.notices.notifier.stop(wait=0)


@kopf.daemon(*RESOURCE, cancellation_timeout=10.0)
async def run_endpoint(
    body: kopf.Body, memo: kopf.Memo, stopped: kopf.DaemonStopped, uid: str, **_: Any
) -> None:
    reconciler: Reconciler = memo["reconciler"]
    loops: Loops = memo["loops"]
    loop = loops.enter(uid, body.metadata.namespace or "")
    failures = 0
    HEALTH.loop_started(uid)
    try:
        while not stopped:
            urgent = loop.begin()
            try:
                HEALTH.pass_started(uid)
                with metrics.RECONCILE_SECONDS.time():
                    next_pass = await reconciler.reconcile(body, urgent=urgent)
                next_pass = next_pass or NextPass(ERROR_BACKOFF_MAX)
                failures = 0
            except Exception:  # a bug must not kill the object's loop
                log.exception("reconcile of %s failed", body.metadata.name)
                next_pass = NextPass(min(ERROR_BACKOFF_MAX, ERROR_BACKOFF_FIRST * 2**failures))
                failures += 1
            HEALTH.pass_finished(uid)
            await loop.wait(next_pass, stopped.wait())
    finally:
        HEALTH.loop_stopped(uid)
        loops.leave(uid)
        memo["seen"].pop(uid, None)
        # A loop stopped by a peering pause resumes asking CloudWatch, not trusting what it
        # knew before another replica acted.
        reconciler.idle.forget(uid)


@kopf.on.event(*RESOURCE)
def wake_on_change(
    body: kopf.Body, uid: str, memo: kopf.Memo, type: str | None = None, **_: Any
) -> None:
    """Spec and wake-annotation changes act at once; status patches do not wake anyone. A new
    wake annotation (a person or a request asking for the endpoint) goes ahead of ordinary
    work. An object being deleted has no loop to wake (the deletion handler acts): what was
    seen of it is dropped, not kept for the process's life."""
    if "loops" not in memo:
        return
    if type == "DELETED" or body.metadata.get("deletionTimestamp"):
        memo["seen"].pop(uid, None)
        return
    key = (body.metadata.get("generation"), body.metadata.annotations.get(WAKE_ANNOTATION))
    seen = memo["seen"].get(uid)
    if seen != key:
        memo["seen"][uid] = key
        memo["loops"].wake(uid, urgent=seen is not None and seen[1] != key[1])


@kopf.on.delete(*RESOURCE)
async def delete_endpoint(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    reconciler: Reconciler = memo["reconciler"]
    next_pass = await reconciler.reconcile(body, deleting=True)
    if next_pass is not None:
        raise kopf.TemporaryError("waiting for AWS to finish the deletion", delay=next_pass.seconds)
