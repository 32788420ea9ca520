"""API Gateway routes of ManagedEndpoints: ``RouteManager`` makes, moves and removes them.

Owns the side of routes that talks to AWS: finding (or creating) the region's REST API,
keeping each object's ``POST /<path>`` as ``sagemeter.core.routes`` builds it, refusing paths
other objects own, Lambda permissions, API keys with their usage plans, and coalesced
deployments (``sagemeter.routes.deployments``). The reconciler calls ``ensure`` / ``remove`` from
worker threads; everything in one region runs under that region's lock, because API Gateway
changes are not transactional (a deployment taken mid-route would snapshot a method without
its integration) and its control plane is throttled per account anyway.

Where things are recorded, so a restarted operator finds them again:

* the REST API: ``SAGEMETER_API_REST_API_ID`` for the operator's own region, otherwise the one
  tagged ``sagemeter.io/managed-by=sagemeter`` (created, named ``sagemeter``, when missing);
* who owns a route and which configuration it has: the POST method's ``operationName`` (see
  ``sagemeter.core.routes`` for why there and not in tags);
* API keys and usage plans: named ``sagemeter/<namespace>/<name>`` and tagged with the owner.

Steady state costs one paged ``GetResources`` per region every ``verify_seconds`` (which also
repairs routes deleted behind the operator's back); an unchanged ``ensure`` makes no call.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sagemeter.api.models import Authorization
from sagemeter.aws.apigateway import RouteGateways
from sagemeter.aws.errors import AwsError, ErrorKind
from sagemeter.core import routes as core
from sagemeter.core.endpoint.ownership import MANAGED_BY, OPERATOR, Owner
from sagemeter.core.route_methods import MethodConfig, build_method_config, method_complete
from sagemeter.core.routes import RouteError, RouteRecord, RouteSpec
from sagemeter.routes.deployments import DeploymentScheduler
from sagemeter.routes.keys import RouteKeys
from sagemeter.routes.tree import ResourceTree
from sagemeter.runtime.settings import Settings

__all__ = ["RouteError", "RouteManager", "RouteResult", "RouteSpec"]

log = logging.getLogger("sagemeter.routes")

GatewayFactory = Callable[[str], RouteGateways]


@dataclass(frozen=True)
class RouteResult:
    """What the operator reports for a route. ``api_key`` is a secret: kept out of repr."""

    invoke_url: str
    rest_api_id: str
    deployed: bool
    api_key_id: str | None = None
    api_key: str | None = field(default=None, repr=False)
    # What this call changed in API Gateway (for Events).
    route_written: bool = False
    key_created: bool = False


@dataclass
class _Region:
    lock: threading.RLock = field(default_factory=threading.RLock)
    api_id: str | None = None
    tree: ResourceTree | None = None
    generations: dict[str, int] = field(default_factory=dict)  # route path -> last change
    startup_marked: bool = False


class RouteManager:
    """Routes of ManagedEndpoints in every region; safe to call from many threads."""

    def __init__(
        self,
        settings: Settings,
        gateway_factory: GatewayFactory = RouteGateways.for_region,
        *,
        quiet_seconds: float = 1.5,
        max_delay_seconds: float = 10.0,
        verify_seconds: float = 600.0,
        on_deployed: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._factory = gateway_factory
        self._verify = verify_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._regions: dict[str, _Region] = {}
        self._gateways: dict[str, RouteGateways] = {}
        self._keys = RouteKeys(settings.api_stage)
        self.deployments = DeploymentScheduler(
            self._deploy,
            lambda region: self._state(region).lock,
            quiet_seconds=quiet_seconds,
            max_delay_seconds=max_delay_seconds,
            on_deployed=on_deployed,
            clock=clock,
        )

    # ------------------------------------------------------------------ public API

    def ensure(self, route: RouteSpec, region: str) -> RouteResult:
        """Makes ``route`` exist exactly as specified; moves it if its owner had another path.

        Raises ``RouteError`` (RouteConflict, UnauthenticatedRouteRefused, AuthorizerNotFound,
        AuthorizerMismatch, LambdaNotFound, InvokeRoleNotConfigured, RestApiNotFound) or
        ``AwsError``.
        """
        settings = self._settings
        core.check_route_allowed(
            route, settings.allow_unauthenticated_routes, settings.api_invoke_role_arn
        )
        config = build_method_config(route, region, settings.api_invoke_role_arn)
        state = self._state(region)
        with state.lock:
            gateways = self._gateways_for(region)
            api_id = self._rest_api(state, gateways, region, create=True)
            assert api_id is not None
            tree, fresh = self._tree(state, gateways, api_id)
            path = core.resource_path(route.path)
            if not fresh and not _up_to_date(tree, route, config):
                # About to change the API: decide on what it holds now, not on a cached view
                # (someone may have added a method or a child resource since).
                tree.load()
            written = self._write_route(state, gateways, tree, region, route, config)
            if written:
                state.generations[path] = self.deployments.changed(region)
            elif not state.startup_marked:
                # Routes found complete after a restart are served, unless the previous process
                # died between a change and its deployment: one deployment per region heals that.
                self.deployments.changed(region)
            state.startup_marked = True
            key_id = key_value = None
            key_created = False
            if route.authorization == Authorization.API_KEY:
                key_id, key_value, key_created = self._keys.ensure(
                    gateways.apigateway,
                    api_id,
                    route.owner,
                    stage_ready=lambda: self._ensure_stage(gateways, api_id, region),
                )
            return RouteResult(
                invoke_url=core.invoke_url(api_id, region, settings.api_stage, route.path),
                rest_api_id=api_id,
                deployed=self.deployments.deployed(region, state.generations.get(path, 0)),
                api_key_id=key_id,
                api_key=key_value,
                route_written=written,
                key_created=key_created,
            )

    def remove(self, owner: Owner, region: str, path: str | None = None) -> bool:
        """Removes ``owner``'s route (only the one at ``path`` when given, never another
        owner's) and, once it has none left in the region, its API key and usage plan.
        True when something was removed."""
        state = self._state(region)
        with state.lock:
            gateways = self._gateways_for(region)
            api_id = self._rest_api(state, gateways, region, create=False)
            removed = False
            if api_id is not None:
                tree, fresh = self._tree(state, gateways, api_id)
                if not fresh:
                    tree.load()  # never delete on a cached view
                owned = tree.owned_paths(owner.uid)
                targets = owned if path is None else owned & {core.resource_path(path)}
                for target in sorted(targets):
                    log.info("removing route %s of %s", target, _who(owner))
                    self._delete_route(state, gateways, tree, region, target)
                    removed = True
                if owned - targets:
                    return removed  # the owner still has a route here: it keeps its key
            return self._keys.remove(gateways.apigateway, owner) or removed

    def holder(self, region: str, path: str) -> RouteRecord | None:
        """Whose route the API has at ``path``, as far as the cached tree shows (read once if
        never read): the route registry a wake request is checked against."""
        state = self._state(region)
        with state.lock:
            gateways = self._gateways_for(region)
            api_id = self._rest_api(state, gateways, region, create=False)
            if api_id is None:
                return None
            tree, _ = self._tree(state, gateways, api_id)
            return tree.record(core.resource_path(path))

    def flush(self, region: str | None = None) -> None:
        """Deploys now whatever changed (one region, or all)."""
        with self._lock:
            regions = [region] if region else list(self._regions)
        for name in regions:
            self.deployments.flush(name)

    def is_deployed(self, region: str, path: str) -> bool:
        """Whether the stage already serves the last change to the route at ``path``."""
        state = self._state(region)
        generation = state.generations.get(core.resource_path(path), 0)
        return self.deployments.deployed(region, generation)

    def close(self) -> None:
        self.deployments.close()

    # ------------------------------------------------------------------ regions and the REST API

    def _state(self, region: str) -> _Region:
        with self._lock:
            return self._regions.setdefault(region, _Region())

    def _gateways_for(self, region: str) -> RouteGateways:
        with self._lock:
            if region not in self._gateways:
                self._gateways[region] = self._factory(region)
            return self._gateways[region]

    def _rest_api(
        self, state: _Region, gateways: RouteGateways, region: str, create: bool
    ) -> str | None:
        if state.api_id is not None:
            return state.api_id
        apigateway = gateways.apigateway
        configured = self._settings.api_rest_api_id
        # REST API ids are regional: the configured one serves the operator's own region.
        if configured and region == self._settings.region:
            if apigateway.get_rest_api(configured) is None:
                raise RouteError(
                    core.REST_API_NOT_FOUND,
                    f"SAGEMETER_API_REST_API_ID {configured} does not exist in {region}: set"
                    " the operator's SAGEMETER_API_REST_API_ID to a REST API there, or unset it"
                    " and sagemeter makes one",
                )
            state.api_id = configured
            return configured
        ours = sorted(
            (
                api
                for api in apigateway.rest_apis()
                if (api.get("tags") or {}).get(MANAGED_BY) == OPERATOR
            ),
            key=lambda api: (str(api.get("createdDate", "")), api["id"]),
        )
        if len(ours) > 1:
            log.warning(
                "%d REST APIs in %s are tagged as sagemeter's; using the oldest, %s",
                len(ours),
                region,
                ours[0]["id"],
            )
        if ours:
            state.api_id = str(ours[0]["id"])
        elif create:
            created = apigateway.create_rest_api(
                core.REST_API_NAME, core.REST_API_DESCRIPTION, core.rest_api_tags()
            )
            state.api_id = str(created["id"])
            log.info("created REST API %s in %s for sagemeter routes", state.api_id, region)
        return state.api_id

    def _tree(
        self, state: _Region, gateways: RouteGateways, api_id: str
    ) -> tuple[ResourceTree, bool]:
        """The API's resource tree, and whether it was read just now: it is read again when
        older than ``verify_seconds`` (which notices routes deleted behind our back)."""
        if state.tree is None or state.tree.api_id != api_id:
            state.tree = ResourceTree(gateways.apigateway, api_id, self._clock)
        if state.tree.age() >= self._verify:
            state.tree.load()
            return state.tree, True
        return state.tree, False

    # ------------------------------------------------------------------ changing routes

    def _write_route(
        self,
        state: _Region,
        gateways: RouteGateways,
        tree: ResourceTree,
        region: str,
        route: RouteSpec,
        config: MethodConfig,
    ) -> bool:
        """Makes the route exactly ``config``; True when it had to change something.

        Everything that can refuse the route (a conflict, a missing authorizer or Lambda)
        is checked before anything is changed, so a refused spec leaves the old route serving.
        """
        api_id, path = tree.api_id, core.resource_path(route.path)
        holder = core.route_conflict(
            tree.post(path) is not None, tree.record(path), route.owner.uid
        )
        if holder is not None:
            where = f"POST {path} in REST API {api_id} ({region})"
            raise RouteError(
                core.ROUTE_CONFLICT,
                f"{where} belongs to {holder}; set spec.api.path to another path, or remove"
                " the route there first",
            )
        if _up_to_date(tree, route, config):
            return False
        apigateway, lambda_ = gateways.apigateway, gateways.lambda_
        if route.authorizer_id:
            authorizer = apigateway.get_authorizer(api_id, route.authorizer_id)
            if authorizer is None:
                raise RouteError(
                    core.AUTHORIZER_NOT_FOUND,
                    f"authorizer {route.authorizer_id} does not exist in REST API {api_id}"
                    f" ({region}): set spec.api.authorizerId to an authorizer of that REST API"
                    f" (aws apigateway get-authorizers --rest-api-id {api_id} --region {region})",
                )
            mismatch = core.authorizer_mismatch(route.authorization, authorizer)
            if mismatch is not None:
                raise RouteError(core.AUTHORIZER_MISMATCH, f"{mismatch} (REST API {api_id})")
        if route.lambda_arn:
            self._grant_lambda(gateways, api_id, region, route)
        previous = tree.owned_paths(route.owner.uid)
        if route.authorization != Authorization.API_KEY and any(
            (tree.post(p) or {}).get("apiKeyRequired") for p in previous
        ):
            # Before the method stops requiring the key, so a crash cannot strand the key.
            self._keys.remove(apigateway, route.owner)
        for moved in sorted(previous - {path}):
            log.info("route %s of %s moves to %s", moved, _who(route.owner), path)
            self._delete_route(state, gateways, tree, region, moved)
        old_lambda = core.lambda_arn_from_uri(tree.integration_uri(path))
        if old_lambda and old_lambda != route.lambda_arn:
            lambda_.remove_permission(old_lambda, core.lambda_statement_id(api_id, path))
        tree.write_route(path, config)
        log.info(
            "route %s -> %s (%s) written for %s",
            path,
            route.lambda_arn or route.endpoint_name,
            route.authorization,
            _who(route.owner),
        )
        return True

    def _grant_lambda(
        self, gateways: RouteGateways, api_id: str, region: str, route: RouteSpec
    ) -> None:
        assert route.lambda_arn is not None
        lambda_ = gateways.lambda_
        source = core.lambda_source_arn(region, lambda_.caller_account(), api_id, route.path)
        try:
            lambda_.add_permission(
                route.lambda_arn, core.lambda_statement_id(api_id, route.path), source
            )
        except AwsError as exc:
            if exc.kind is ErrorKind.NOT_FOUND:
                raise RouteError(
                    core.LAMBDA_NOT_FOUND,
                    f"Lambda function {route.lambda_arn} does not exist: create it, set"
                    " spec.api.lambdaArn to a function that exists, or remove spec.api.lambdaArn"
                    " for a direct route to the endpoint",
                ) from exc
            raise

    def _delete_route(
        self, state: _Region, gateways: RouteGateways, tree: ResourceTree, region: str, path: str
    ) -> None:
        function = core.lambda_arn_from_uri(tree.integration_uri(path))
        if function:
            gateways.lambda_.remove_permission(
                function, core.lambda_statement_id(tree.api_id, path)
            )
        tree.delete_route(path)
        self.deployments.changed(region)
        state.generations.pop(path, None)

    # ------------------------------------------------------------------ deployments

    def _ensure_stage(self, gateways: RouteGateways, api_id: str, region: str) -> None:
        """A usage plan can only name a stage that exists: deploy now if it does not."""
        if gateways.apigateway.get_stage(api_id, self._settings.api_stage) is None:
            if not self.deployments.pending(region):
                self.deployments.changed(region)
            self.deployments.flush(region)

    def _deploy(self, region: str) -> None:
        """Deploys the region's REST API to the stage; runs under the region's lock."""
        state = self._state(region)
        if state.api_id is None:
            return
        apigateway = self._gateways_for(region).apigateway
        stage = self._settings.api_stage
        try:
            deployment = apigateway.create_deployment(api_id := state.api_id, stage, "sagemeter")
        except AwsError as exc:
            if exc.code != "BadRequestException" or "any methods" not in exc.message.lower():
                raise
            # The last route is gone and an empty API cannot be deployed: delete the stage
            # so it stops serving the removed routes.
            apigateway.delete_stage(api_id, stage)
            log.info("no routes left in REST API %s (%s): stage %s deleted", api_id, region, stage)
            return
        log.info("deployed REST API %s (%s) to %s: %s", api_id, region, stage, deployment)


def _up_to_date(tree: ResourceTree, route: RouteSpec, config: MethodConfig) -> bool:
    """Whether the tree shows the route exactly as wanted, and nowhere else."""
    path = core.resource_path(route.path)
    post, record = tree.post(path), tree.record(path)
    return (
        post is not None
        and record is not None
        and record.uid == route.owner.uid
        and record.fingerprint == config.fingerprint
        and method_complete(config.proxy, post)
        and tree.owned_paths(route.owner.uid) == {path}
    )


def _who(owner: Owner) -> str:
    return f"{owner.namespace}/{owner.name}"
