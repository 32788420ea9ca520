"""A ManagedEndpoint's API route, as one reconcile pass sees it.

`spec.api` set: the route is ensured (an unchanged route costs no AWS call), and
for `API_KEY` the key is written to a Secret in the object's namespace, owned by
the object so it goes with it; the key never reaches status or logs. `spec.api`
removed: the route, key and Secret go. Parking keeps the route. A route that
cannot be made is a problem of its own and never blocks the endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass

from sagemeter.api.models import GROUP, KIND, VERSION, InferenceType
from sagemeter.core.endpoint.status import Problem
from sagemeter.core.routes import API_KEY_SECRET_KEY
from sagemeter.routes.manager import RouteError, RouteManager, RouteSpec
from sagemeter.runtime.context import Context
from sagemeter.runtime.kube import Kube
from sagemeter.runtime.settings import Settings
from sagemeter.runtime.workers import Workers


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
    def __init__(self, settings: Settings, kube: Kube, workers: Workers) -> None:
        self.manager = RouteManager(settings)
        self.kube = kube
        self.workers = workers

    async def sync(self, ctx: Context) -> RouteOutcome:
        api = ctx.spec.api
        if api is None:
            if ctx.status.invoke_url or ctx.status.api_key_secret:
                await self.remove(ctx)
            return RouteOutcome()
        route = RouteSpec.from_api(
            api, ctx.endpoint_name, ctx.owner,
            async_=ctx.spec.inference_type == InferenceType.ASYNC,
        )
        try:
            result = await self.workers.run(self.manager.ensure, route, ctx.region)
        except RouteError as error:
            return RouteOutcome(
                ctx.status.invoke_url, ctx.status.api_key_secret,
                Problem(error.reason, error.message),
            )
        secret: str | None = None
        if result.api_key is not None:
            secret = secret_name(ctx)
            if (
                ctx.status.api_key_secret != secret
                or ctx.status.observed_generation != ctx.generation
            ):
                await self.workers.run(
                    self.kube.apply_secret, ctx.namespace, secret,
                    {API_KEY_SECRET_KEY: result.api_key}, owner_reference(ctx),
                )
        elif ctx.status.api_key_secret:
            await self.workers.run(self.kube.delete_secret, ctx.namespace,
                                   ctx.status.api_key_secret)
        # Until the change is deployed the old URL (if any) is what answers.
        url = result.invoke_url if result.deployed else ctx.status.invoke_url
        return RouteOutcome(url, secret, None, pending=not result.deployed)

    async def remove(self, ctx: Context) -> None:
        await self.workers.run(self.manager.remove, ctx.owner, ctx.region)
        if ctx.status.api_key_secret:
            await self.workers.run(self.kube.delete_secret, ctx.namespace,
                                   ctx.status.api_key_secret)


def owner_reference(ctx: Context) -> dict[str, object]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "name": ctx.name,
        "uid": ctx.uid,
        "controller": True,
        "blockOwnerDeletion": False,
    }
