"""Self-service through the route (SPEC §7), as one reconcile pass sees it: the meter's SSM
parameter, and the extensions `POST <path>/_meter` asks for (`Extensions`).

With `spec.api.selfService` the pass mirrors, after its status write, the values
`GET <path>/_meter` answers into `/sagemeter/<namespace>/<name>` (`status.meterParameter`
names it); without it, or when the object goes, the parameter is deleted. A failed write is a
Warning Event and the pass comes back soon; it never blocks the endpoint.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from sagemeter.api.models import EXTENDS_ANNOTATION, ExtendCount, ManagedEndpointStatus
from sagemeter.aws.errors import AwsError
from sagemeter.controller.events import Known
from sagemeter.core.endpoint.tags import resource_tags
from sagemeter.core.notify import EXTENDED_BY_REQUEST, ExtendHints, Notice, kubectl_extend
from sagemeter.core.self_service import (
    FIELD_MANAGER,
    ExtendOutcome,
    ExtendRequest,
    curl_extend,
    extend_patch,
    meter_document,
    parameter_name,
    read_extends,
)
from sagemeter.runtime.apiserver import ApiError
from sagemeter.runtime.context import Context
from sagemeter.runtime.kube import Kube
from sagemeter.runtime.loops import Nudge
from sagemeter.runtime.workers import Workers
from sagemeter.selfservice.mirror import MeterMirror

__all__ = ["Extensions", "SelfService"]

log = logging.getLogger("sagemeter.selfservice")
Event = Callable[[Context, str, str, str], None]
# Reads and patches of one extension that may meet a change made meanwhile (409).
CONFLICT_RETRIES = 3


class SelfService:
    def __init__(
        self, workers: Workers, event: Event, extensions: Extensions | None = None
    ) -> None:
        self.workers = workers
        self._event = event
        self.mirror = MeterMirror()
        self.extensions = extensions

    def announce(self, ctx: Context, new: ManagedEndpointStatus) -> list[Notice]:
        """Before the status write: Events for the extensions applied and refused since the
        last pass, `new.extends` from the object's `sagemeter.io/extends`, and the
        `ExtendedByRequest` notices for its notifications."""
        if self.extensions is not None:
            for request, reason in self.extensions.refusals(ctx.uid):
                self._event(
                    ctx,
                    "Warning",
                    "ExtendRefused",
                    f"refused the extension {request.caller or 'a caller'} asked for through"
                    f" _meter (request {request.request_id}): {reason}; nothing changed",
                )
        annotations = ctx.body["metadata"].get("annotations") or {}
        extends = read_extends(annotations.get(EXTENDS_ANNOTATION))
        if extends.date is None:
            new.extends = None
            return []
        announced = set((ctx.status.extends.requests or []) if ctx.status.extends else [])
        notices = []
        for record in extends.records:
            cut = ", cut at maxExpiresAt" if record.capped else ""
            said = (
                f"extended to {record.expires_at}{cut} by {record.caller}"
                f" (request {record.request_id})"
            )
            if record.request_id not in announced:
                self._event(ctx, "Normal", EXTENDED_BY_REQUEST, said)
            notices.append(Notice(EXTENDED_BY_REQUEST, EXTENDED_BY_REQUEST, record.at, said))
        new.extends = ExtendCount(
            date=extends.date,
            count=extends.count,
            requests=[r.request_id for r in extends.records],
        )
        return notices

    def hints(self, ctx: Context, invoke_url: str | None) -> ExtendHints:
        """How a notification tells a person to extend: kubectl, and curl with selfService."""
        api = ctx.spec.api
        curl = (
            curl_extend(invoke_url, api.authorization)
            if api is not None and api.self_service and invoke_url
            else None
        )
        return ExtendHints(kubectl_extend(ctx.namespace, ctx.name), curl)

    @staticmethod
    def wanted(ctx: Context) -> bool:
        return ctx.spec.api is not None and ctx.spec.api.self_service

    async def settle(self, ctx: Context, new: ManagedEndpointStatus) -> None:
        """Before the status write: `new.meterParameter` names the parameter the object keeps;
        one it no longer wants is deleted first (kept in status while that fails). Where
        sagemeter may not act for the object (it has no identity: its calls would be the
        operator's, in the operator's account), nothing is written or deleted."""
        if not ctx.acting:
            new.meter_parameter = ctx.status.meter_parameter
            return
        if self.wanted(ctx):
            new.meter_parameter = parameter_name(ctx.namespace, ctx.name)
            return
        if ctx.status.meter_parameter:
            # Status is the tenant's to write: it only says that a parameter may be left, and
            # the one deleted is always this object's own name, never the name status gives.
            try:
                await self.remove(ctx)
            except AwsError as error:
                name = parameter_name(ctx.namespace, ctx.name)
                log.warning("deleting %s failed: %s", name, error)
                new.meter_parameter = name
                return
        new.meter_parameter = None

    async def mirror_meter(self, ctx: Context, new: ManagedEndpointStatus) -> bool:
        """After the status write: the parameter holds `new`'s meter. False when AWS refused
        (the next pass tries again)."""
        if not self.wanted(ctx) or not ctx.acting:
            return True
        name = parameter_name(ctx.namespace, ctx.name)
        value = meter_document(ctx.namespace, ctx.name, new)
        try:
            await self.workers.run(
                self.mirror.keep,
                ctx.uid,
                ctx.region,
                ctx.identity,
                name,
                value,
                resource_tags(ctx.owner, ctx.spec.tags),
            )
        except AwsError as error:
            self._warn(ctx, name, error)
            return False
        return True

    async def remove(self, ctx: Context) -> None:
        """Deletes the object's parameter, `/sagemeter/<namespace>/<name>` (raises AwsError
        when AWS refuses)."""
        name = parameter_name(ctx.namespace, ctx.name)
        await self.workers.run(self.mirror.remove, ctx.uid, ctx.region, ctx.identity, name)

    def _warn(self, ctx: Context, name: str, error: AwsError) -> None:
        log.warning("mirroring the meter of %s/%s failed: %s", ctx.namespace, ctx.name, error)
        self._event(
            ctx,
            "Warning",
            "MeterNotMirrored",
            f"writing SSM parameter {name} failed ({error}); GET _meter shows older values"
            " until it succeeds",
        )


class Extensions:
    """`POST <path>/_meter`, carried into the object (on the queue listeners' threads) and
    announced by its next pass.

    A request that matches the object (`EventDispatcher` checked it) is applied with one merge
    patch, as field manager `sagemeter-self-service`, from the object as the API server has it
    now: the new `spec.expiry.expiresAt` and the `sagemeter.io/extends` annotation naming the
    request, with the `resourceVersion` it was computed from. So a request delivered twice (an
    operator restart before the message was deleted) is applied once, and a change made
    meanwhile is added to, never overwritten. The pass then records the Event
    `ExtendedByRequest` (and its notification) from the annotation, and counts the extension
    in `status.extends`; a refusal is an Event `ExtendRefused` and changes nothing.
    """

    def __init__(self, kube: Kube, nudge: Nudge, clock: Callable[[], datetime]) -> None:
        self.kube = kube
        self._nudge = nudge
        self._clock = clock
        self._lock = threading.Lock()
        self._refusals: dict[str, list[tuple[ExtendRequest, str]]] = {}

    def handle(self, known: Known, request: ExtendRequest, refused: str | None) -> bool:
        """True when the message is done with; False to see it again (a conflict that kept
        coming back, the API server out of reach)."""
        if refused is None:
            try:
                outcome = self._apply(known, request)
            except ApiError as error:
                log.warning("extending %s/%s failed: %s", known.namespace, known.name, error)
                return False
            if outcome is None:
                return False
            refused = outcome.refused
        if refused is not None:
            with self._lock:
                self._refusals.setdefault(known.uid, []).append((request, refused))
        self._nudge(known.uid, True)
        return True

    def _apply(self, known: Known, request: ExtendRequest) -> ExtendOutcome | None:
        for _ in range(CONFLICT_RETRIES):
            obj = self.kube.get_endpoint(known.namespace, known.name)
            if obj is None or (obj.get("metadata") or {}).get("uid") != known.uid:
                return ExtendOutcome(refused="the object is gone")
            outcome = extend_patch(obj, request, self._clock(), known.max_extends_per_day)
            if outcome.patch is None:
                return outcome  # refused, or applied already
            try:
                if not self.kube.patch_endpoint(
                    known.namespace, known.name, outcome.patch, FIELD_MANAGER
                ):
                    return ExtendOutcome(refused="the object is gone")
            except ApiError as error:
                if error.status == 409:
                    continue  # changed meanwhile: read it again and add to it
                raise
            log.info(
                "extended %s/%s to %s by a request of %s",
                known.namespace,
                known.name,
                outcome.record.expires_at if outcome.record else "-",
                request.caller,
            )
            return outcome
        return None

    def refusals(self, uid: str) -> list[tuple[ExtendRequest, str]]:
        with self._lock:
            return self._refusals.pop(uid, [])

    def forget(self, uid: str) -> None:
        with self._lock:
            self._refusals.pop(uid, None)
