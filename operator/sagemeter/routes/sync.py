"""A ManagedEndpoint's API route, as one reconcile pass sees it.

`spec.api` set: the route is ensured (an unchanged route costs no AWS call), and
for `API_KEY` the key is written to a Secret in the object's namespace, owned by
the object so it goes with it; the key never reaches status or logs. A Secret of
that name that is not the object's own (no ownerReference with its uid) is never
overwritten: `SecretConflict`. `spec.api` removed: the route, key and Secret go.
Parking keeps the route. A route that cannot be made is a problem of its own and
never blocks the endpoint. Every change in API Gateway gets an Event, and so does a route
that answers at a new URL (its REST API or path changed).

One `RouteManager` serves every object; each pass tells it where the object's routes live and
as whom they are written (`RouteSite`, from the object's own context: never another object's).

Changes of one REST API are made one at a time (the manager holds the API's lock). The passes of
a namespace therefore take their turn in the event loop, one at a time per namespace, account
and region, before they take a worker thread: a hundred routes parked at once would otherwise
hold the namespace's whole share of the threads waiting for that lock, and its expiries'
DeleteEndpoint calls would wait behind them.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from functools import partial

from sagemeter.api.models import GROUP, KIND, VERSION, InferenceType
from sagemeter.aws.errors import AwsError
from sagemeter.aws.gateway import PACED
from sagemeter.core.endpoint.status import Problem
from sagemeter.core.route_homes import LAMBDA_NOT_ALLOWED
from sagemeter.core.routes import (
    API_KEY_SECRET_KEY,
    INVOKE_ROLE_MISSING,
    RouteRecord,
    tenant_invoke_role_missing,
)
from sagemeter.core.self_service import parameter_name
from sagemeter.core.wake import RouteHold
from sagemeter.routes.manager import RouteError, RouteManager, RouteSite, RouteSpec
from sagemeter.runtime.context import Context
from sagemeter.runtime.kube import Kube, SecretConflict
from sagemeter.runtime.settings import Settings
from sagemeter.runtime.workers import KeyedLock, Workers

Event = Callable[[Context, str, str, str], None]


@dataclass(frozen=True)
class RouteOutcome:
    invoke_url: str | None = None
    api_key_secret: str | None = None
    problem: Problem | None = None
    # The route changed and its deployment is still coalescing: look again soon.
    pending: bool = False


def secret_name(ctx: Context) -> str:
    return f"{ctx.name}-api-key"


class RouteSync:
    """Routes of every object, each written as the object itself (`RouteSite`): the configured
    REST API serves the operator's own account and region; everything else lives in the
    namespace's own REST API in the object's account, with the invoke role its policy names."""

    def __init__(
        self,
        settings: Settings,
        kube: Kube,
        workers: Workers,
        event: Event,
        manager: RouteManager | None = None,
    ) -> None:
        self.settings = settings
        self.kube = kube
        self.workers = workers
        self.event = event
        self.routes = manager or RouteManager(settings)
        self._turns = KeyedLock()

    def _turn(self, ctx: Context) -> AbstractAsyncContextManager[None]:
        """The pass's turn to change routes: one per namespace, account and region at a time
        (whatever REST API: a namespace's routes live in one, the configured API's callers wait
        for each other in the manager)."""
        return self._turns.hold(f"{ctx.scope}/{ctx.region}/{ctx.namespace}")

    def site(self, ctx: Context) -> RouteSite:
        settings = self.settings
        # REST API ids are regional and the platform's API is in the operator's own account.
        own = ctx.identity is None and ctx.region == settings.region
        effective = ctx.tenancy.effective if ctx.tenancy is not None else None
        return RouteSite(
            region=ctx.region,
            invoke_role=ctx.invoke_role,
            account=ctx.scope,
            identity=ctx.identity,
            reader=ctx.reader,
            configured=settings.api_rest_api_id if own else None,
            lambda_policed=bool(effective and effective.lambda_arns),
            lambda_globs=settings.lambda_arn_globs,
        )

    def holder(self, ctx: Context) -> Callable[[], RouteRecord | None] | None:
        """Who holds the object's path in its route's REST API, asked later (the wake check)."""
        api = ctx.spec.api
        if api is None:
            return None
        return partial(
            self.routes.holder,
            self.site(ctx),
            ctx.namespace,
            str(api.authorization),
            api.path.strip("/"),
        )

    async def sync(
        self, ctx: Context, hold: RouteHold | None = None, queue: tuple[str, str] | None = None
    ) -> RouteOutcome:
        """Keep the route; `hold` is what it answers while the endpoint does not serve, and
        `queue` (account, queue name) where a waking route sends its wake request."""
        api = ctx.spec.api
        if api is None:
            if ctx.status.invoke_url or ctx.status.api_key_secret:
                await self.remove(ctx)
            return RouteOutcome()
        route = RouteSpec.from_api(
            api,
            ctx.endpoint_name,
            ctx.owner,
            async_=ctx.spec.inference_type == InferenceType.ASYNC,
            hold=hold,
            queue=queue,
            meter=parameter_name(ctx.namespace, ctx.name) if api.self_service else None,
        )
        try:
            async with self._turn(ctx):
                result = await self.workers.run(
                    self.routes.ensure, route, self.site(ctx), ctx.status.invoke_url
                )
        except RouteError as error:
            if error.reason == LAMBDA_NOT_ALLOWED:
                # Not this namespace's function: no permission, no route (one made before the
                # entitlement went is taken out).
                await self.remove(ctx)
                return RouteOutcome(None, None, Problem(error.reason, error.message))
            return RouteOutcome(
                ctx.status.invoke_url,
                ctx.status.api_key_secret,
                Problem(error.reason, _route_message(ctx, error)),
            )
        except AwsError as error:
            if error.code != PACED:
                raise
            # A quota slot (a new REST API, a deletion) is a few seconds away: look again soon.
            return RouteOutcome(ctx.status.invoke_url, ctx.status.api_key_secret, pending=True)
        if result.route_written:
            target = (
                f"endpoint {ctx.endpoint_name}"
                if hold is None
                else f"503 {hold.kind} ({hold.reason}) while the endpoint does not serve"
            )
            self.event(
                ctx,
                "Normal",
                "RouteWritten",
                f"POST /{api.path} -> {target} ({api.authorization})",
            )
        if result.key_created:
            self.event(ctx, "Normal", "ApiKeyCreated", f"created the API key of /{api.path}")
        secret: str | None = None
        if result.api_key is not None:
            secret = secret_name(ctx)
            if (
                ctx.status.api_key_secret != secret
                or ctx.status.observed_generation != ctx.generation
                or result.key_created
            ):
                try:
                    await self.workers.run(
                        self.kube.apply_secret,
                        ctx.namespace,
                        secret,
                        {API_KEY_SECRET_KEY: result.api_key},
                        owner_reference(ctx),
                    )
                except SecretConflict as conflict:
                    return RouteOutcome(
                        ctx.status.invoke_url, None, Problem("SecretConflict", str(conflict))
                    )
        elif ctx.status.api_key_secret:
            await self.workers.run(
                self.kube.delete_secret, ctx.namespace, ctx.status.api_key_secret, ctx.uid
            )
        # Until the change is deployed the old URL (if any) is what answers.
        url = result.invoke_url if result.deployed else ctx.status.invoke_url
        if result.deployed and ctx.status.invoke_url and ctx.status.invoke_url != url:
            where = f" (taken out of {', '.join(result.moved_from)})" if result.moved_from else ""
            self.event(
                ctx,
                "Normal",
                "RouteMoved",
                f"POST /{api.path} now answers at {url}, no longer at {ctx.status.invoke_url}"
                f"{where}",
            )
        return RouteOutcome(url, secret, None, pending=not result.deployed)

    async def remove(self, ctx: Context) -> None:
        """Remove the object's own route, key and Secret (proven by route record, key tags and
        ownerReference); nothing of anyone else's."""
        async with self._turn(ctx):
            removed = await self.workers.run(
                self.routes.remove, ctx.owner, self.site(ctx), ctx.status.invoke_url
            )
        if removed:
            self.event(ctx, "Normal", "RouteRemoved", "removed the API route and its key")
        if ctx.status.api_key_secret:
            await self.workers.run(
                self.kube.delete_secret, ctx.namespace, ctx.status.api_key_secret, ctx.uid
            )


def _route_message(ctx: Context, error: RouteError) -> str:
    """The message of a refused route; a missing invoke role names where this object's comes
    from (its EndpointPolicy's, when a policy's role places it)."""
    effective = ctx.tenancy.effective if ctx.tenancy is not None else None
    role = effective.role_arn if effective is not None else None
    if error.reason == INVOKE_ROLE_MISSING and ctx.identity is not None and role is not None:
        account = (
            ctx.tenancy.placement.account_id if ctx.tenancy and ctx.tenancy.placement else None
        )
        return tenant_invoke_role_missing(role.policy, account)
    return error.message


def owner_reference(ctx: Context) -> dict[str, object]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "name": ctx.name,
        "uid": ctx.uid,
        "controller": True,
        "blockOwnerDeletion": False,
    }
