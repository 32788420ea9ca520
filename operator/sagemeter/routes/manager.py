"""API Gateway routes of ManagedEndpoints: ``RouteManager`` makes, moves and removes them.

Owns the side of routes that talks to AWS: finding (or creating) the REST API a route belongs in
(``core.route_homes``: a namespace's own, or the platform's configured one), keeping each
object's ``POST /<path>`` as ``sagemeter.core.routes`` builds it, refusing paths other objects
own, Lambda permissions and the entitlement to a function, API keys with their usage plans, and
coalesced, paced deployments (``sagemeter.routes.deployments``, one scheduler per account and
region). The reconciler calls ``ensure`` / ``remove`` from worker threads; everything in one
REST API runs under that API's lock, because API Gateway changes are not transactional (a
deployment taken mid-route would snapshot a method without its integration).

As whom: every call made for an object's route (its method, integration, key, Lambda
permission) is made as that object (``RouteSite.identity``: its namespace's session, or the
operator's own identity where no role is assumed). What serves a whole REST API (reading its
tree, deploying it) is made as the API's owner: the namespace's session for a namespace's API,
the operator for the configured one, the account's shared reader for sagemeter's shared API of
old. Listing an account's REST APIs is a shared read (``RestApiDirectory``).

Where things are recorded, so a restarted operator finds them again:

* the REST APIs: ``SAGEMETER_API_REST_API_ID``; a namespace's by its tags;
* who owns a route and which configuration it has: the POST method's ``operationName`` (see
  ``sagemeter.core.routes`` for why there and not in tags);
* API keys and usage plans: named ``sagemeter/<namespace>/<name>`` and tagged with the owner.

A route found anywhere else than its home (sagemeter's shared REST API of old, the other home
after an authorization change, the API an object's status last showed after
``SAGEMETER_API_REST_API_ID`` changed) is removed once the route serves from its home, so the
new route works before the old one goes. Steady state costs one paged ``GetResources`` per REST
API every ``verify_seconds`` (which also repairs routes deleted behind the operator's back); an
unchanged ``ensure`` makes no call.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sagemeter.api.models import Authorization
from sagemeter.aws.apigateway import ApiGatewayGateway, RouteGateways
from sagemeter.aws.clients import Identity
from sagemeter.aws.errors import AwsError, ErrorKind
from sagemeter.aws.quotas import PACER
from sagemeter.core import routes as core
from sagemeter.core.endpoint.ownership import Owner, cluster_tags
from sagemeter.core.route_homes import (
    LAMBDA_NOT_ALLOWED,
    LEGACY,
    ApiHome,
    home_of,
    lambda_entitled,
    namespace_api_description,
    namespace_api_name,
    namespace_api_tags,
    parse_invoke_url,
)
from sagemeter.core.route_methods import MethodConfig, build_method_config, method_complete
from sagemeter.core.routes import RouteError, RouteRecord, RouteSpec
from sagemeter.routes.apis import NOT_LISTED, RestApiDirectory
from sagemeter.routes.deployments import DeploymentScheduler
from sagemeter.routes.keys import KeyState, RouteKeys
from sagemeter.routes.tree import ResourceTree
from sagemeter.runtime.settings import Settings

__all__ = ["RouteError", "RouteManager", "RouteResult", "RouteSite", "RouteSpec"]

log = logging.getLogger("sagemeter.routes")

GatewayFactory = Callable[[str, Identity | None], RouteGateways]
# How long a function's entitlement (its namespace tag) is trusted before it is read again.
ENTITLEMENT_SECONDS = 3600.0


@dataclass(frozen=True)
class RouteSite:
    """Where an object's routes live and as whom they are written (``routes.sync`` builds it
    from the object's context)."""

    region: str
    invoke_role: str | None
    account: str = "self"
    identity: Identity | None = None  # the object's own
    reader: Identity | None = None  # the shared reader of its account
    configured: str | None = None  # the platform's REST API, where it applies to this object
    lambda_policed: bool = False  # an EndpointPolicy's routes.lambdaArns decides the function
    lambda_globs: tuple[str, ...] = ()  # SAGEMETER_LAMBDA_ARNS


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
    # Where else the owner's route was found, and taken out now that this one serves.
    moved_from: tuple[str, ...] = ()


@dataclass
class _Api:
    home: ApiHome
    identity: Identity | None  # as whom API-wide calls go (tree reads, deployments)
    lock: threading.RLock = field(default_factory=threading.RLock)
    api_id: str | None = None
    tree: ResourceTree | None = None
    generations: dict[str, int] = field(default_factory=dict)  # route path -> last change
    stage_ready: bool | None = None  # the stage exists (a usage plan can name it)
    startup_marked: bool = False
    emptied: bool = False  # its last route went and its stage with it


class RouteManager:
    """Routes of ManagedEndpoints in every account and region; safe to call from many threads."""

    def __init__(
        self,
        settings: Settings,
        gateway_factory: GatewayFactory = RouteGateways.for_region,
        *,
        quiet_seconds: float = 1.5,
        max_delay_seconds: float = 10.0,
        verify_seconds: float = 600.0,
        on_deployed: Callable[[ApiHome], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._settings = settings
        self._factory = gateway_factory
        self._verify = verify_seconds
        self._clock = clock
        self._timing = (quiet_seconds, max_delay_seconds)
        self._on_deployed = on_deployed
        self._lock = threading.Lock()
        self._apis: dict[ApiHome, _Api] = {}
        self._gateways: dict[tuple[str, Identity | None], RouteGateways] = {}
        self._directories: dict[tuple[str, str], RestApiDirectory] = {}
        self._schedulers: dict[tuple[str, str], DeploymentScheduler[ApiHome]] = {}
        self._entitled: dict[tuple[Identity | None, str, str], float] = {}
        self._keys = RouteKeys(settings.api_stage, settings.cluster_id)

    # ------------------------------------------------------------------ public API

    def ensure(
        self, route: RouteSpec, site: RouteSite, previous_url: str | None = None
    ) -> RouteResult:
        """Makes ``route`` exist exactly as specified in its home REST API; takes it out of
        wherever else it was once this one serves (``previous_url``: what status showed).

        Raises ``RouteError`` (RouteConflict, UnauthenticatedRouteRefused, AuthorizerNotFound,
        AuthorizerMismatch, LambdaNotFound, LambdaNotAllowed, InvokeRoleNotConfigured,
        RestApiNotFound) or ``AwsError`` (``Paced`` when a quota slot is far: try again soon).
        """
        settings = self._settings
        core.check_route_allowed(route, settings.allow_unauthenticated_routes, site.invoke_role)
        config = build_method_config(route, site.region, site.invoke_role)
        home = home_of(
            route.authorization, route.owner.namespace, site.account, site.region, site.configured
        )
        api = self._api(home, site)
        gateways = self._gateway(site.region, site.identity)
        scheduler = self._scheduler(site.account, site.region)
        key: KeyState | None = None
        with api.lock:
            api_id = self._rest_api(api, site, create=True)
            assert api_id is not None
            tree, fresh = self._tree(api)
            path = core.resource_path(route.path)
            if not fresh and not _up_to_date(tree, route, config):
                # About to change the API: decide on what it holds now, not on a cached view
                # (someone may have added a method or a child resource since).
                tree.load()
            if route.lambda_arn:
                self._check_lambda(gateways, route, site)
            written = self._write_route(api, gateways, tree, route, config)
            if written:
                api.generations[path] = scheduler.changed(home)
            elif not api.startup_marked:
                # Routes found complete after a restart are served, unless the previous process
                # died between a change and its deployment: one deployment per API heals that.
                scheduler.changed(home, heal=True)
            api.startup_marked = True
            served = scheduler.deployed(home, api.generations.get(path, 0))
            if route.authorization == Authorization.API_KEY:
                ready = self._stage_ready(api, gateways, scheduler)
                key = self._keys.ensure(
                    gateways.apigateway, site.account, api_id, route.owner, ready
                )
        deployed = served and (key is None or key.bound)
        url = core.invoke_url(api_id, site.region, settings.api_stage, route.path)
        moved: tuple[str, ...] = ()
        if deployed:
            moved = self._move_out(route, site, home, api_id, previous_url)
            if key is not None:
                self._keys.prune(
                    gateways.apigateway,
                    site.account,
                    route.owner,
                    removable=lambda other: (
                        other != api_id and self._holds_nothing_of(site, other, route.owner)
                    ),
                )
        return RouteResult(
            invoke_url=url,
            rest_api_id=api_id,
            deployed=deployed,
            api_key_id=key.key_id if key else None,
            api_key=key.value if key else None,
            route_written=written,
            key_created=bool(key and key.created),
            moved_from=moved,
        )

    def remove(
        self,
        owner: Owner,
        site: RouteSite,
        previous_url: str | None = None,
        path: str | None = None,
    ) -> bool:
        """Removes ``owner``'s routes (only the one at ``path`` when given, never another
        owner's) from every REST API they may have been written to, and, once it has none
        left, its API key and usage plans. True when something was removed."""
        removed, left = False, False
        for home in self._homes(owner, site, previous_url, exclude=None):
            gone, kept = self._take_out(home, site, owner, path)
            removed, left = removed or gone, left or kept
        if left:
            return removed  # the owner still has a route here: it keeps its key
        gateways = self._gateway(site.region, site.identity)
        return self._keys.remove(gateways.apigateway, site.account, owner) or removed

    def holder(
        self, site: RouteSite, namespace: str, authorization: str, path: str
    ) -> RouteRecord | None:
        """Whose route the object's home REST API has at ``path``, as far as the cached tree
        shows (read once if never read): the route registry a wake request is checked
        against."""
        home = home_of(authorization, namespace, site.account, site.region, site.configured)
        api = self._api(home, site)
        with api.lock:
            if self._rest_api(api, site, create=False) is None:
                return None
            tree, _ = self._tree(api)
            return tree.record(core.resource_path(path))

    def flush(self) -> None:
        """Deploys now whatever changed (each API after its account's next slot)."""
        with self._lock:
            homes = list(self._apis)
        for home in homes:
            self._scheduler(home.account, home.region).flush(home)

    def close(self) -> None:
        with self._lock:
            schedulers = list(self._schedulers.values())
        for scheduler in schedulers:
            scheduler.close()

    # ------------------------------------------------------------------ REST APIs

    def _gateway(self, region: str, identity: Identity | None) -> RouteGateways:
        with self._lock:
            key = (region, identity)
            if key not in self._gateways:
                self._gateways[key] = self._factory(region, identity)
            return self._gateways[key]

    def _directory(self, site: RouteSite) -> RestApiDirectory:
        with self._lock:
            key = (site.account, site.region)
            found = self._directories.get(key)
        if found is None:
            reader = self._gateway(site.region, site.reader).apigateway
            with self._lock:
                found = self._directories.setdefault(key, RestApiDirectory(reader, site.account))
        return found

    def _scheduler(self, account: str, region: str) -> DeploymentScheduler[ApiHome]:
        with self._lock:
            key = (account, region)
            if key not in self._schedulers:
                quiet, max_delay = self._timing
                self._schedulers[key] = DeploymentScheduler(
                    self._deploy,
                    lambda home: self._apis[home].lock,
                    name=f"{account}-{region}",
                    slot_wait=lambda: PACER.wait(account, region, "apigateway", "CreateDeployment"),
                    quiet_seconds=quiet,
                    max_delay_seconds=max_delay,
                    on_deployed=self._deployed,
                    clock=self._clock,
                )
            return self._schedulers[key]

    def _api(self, home: ApiHome, site: RouteSite) -> _Api:
        """The state of one REST API; API-wide calls go as its owner."""
        if home.namespace is not None:
            owner = site.identity  # the namespace's own session
        elif home.api_id == site.configured:
            owner = None  # the platform's API: the operator's own identity
        else:
            owner = site.reader  # sagemeter's shared API of old, or one a status showed
        with self._lock:
            api = self._apis.get(home)
            if api is None:
                api = self._apis[home] = _Api(home, owner)
            elif home.namespace is not None:
                api.identity = owner  # the namespace's role may have changed within its account
            return api

    def _rest_api(self, api: _Api, site: RouteSite, create: bool) -> str | None:
        """The id of ``api``'s REST API; a namespace's is made (tagged) when missing and
        ``create``. Called with the API's lock held."""
        if api.api_id is not None:
            return api.api_id
        home = api.home
        if home.namespace is None:
            assert home.api_id is not None
            if home.api_id == site.configured:
                apigateway = self._gateway(home.region, api.identity).apigateway
                if apigateway.get_rest_api(home.api_id) is None:
                    raise RouteError(
                        core.REST_API_NOT_FOUND,
                        f"SAGEMETER_API_REST_API_ID {home.api_id} does not exist in"
                        f" {home.region}: set the operator's SAGEMETER_API_REST_API_ID to a REST"
                        " API there, or unset it and sagemeter makes one",
                    )
            api.api_id = home.api_id
            return api.api_id
        directory = self._directory(site)
        found = directory.namespace_api(home.namespace)
        if found is None and create:
            apigateway = self._gateway(home.region, api.identity).apigateway
            made = apigateway.create_rest_api(
                namespace_api_name(home.namespace),
                namespace_api_description(home.namespace),
                {**namespace_api_tags(home.namespace), **cluster_tags(self._settings.cluster_id)},
            )
            directory.added(made)
            found = str(made["id"])
            log.info("created REST API %s for the routes of namespace %s", found, home.namespace)
        api.api_id = found
        return found

    def _tree(self, api: _Api) -> tuple[ResourceTree, bool]:
        """The API's resource tree, and whether it was read just now: it is read again when
        older than ``verify_seconds`` (which notices routes deleted behind our back)."""
        assert api.api_id is not None
        if api.tree is None or api.tree.api_id != api.api_id:
            apigateway = self._gateway(api.home.region, api.identity).apigateway
            api.tree = ResourceTree(apigateway, api.api_id, self._clock)
        if api.tree.age() >= self._verify:
            api.tree.load()
            return api.tree, True
        return api.tree, False

    def _stage_ready(
        self, api: _Api, gateways: RouteGateways, scheduler: DeploymentScheduler[ApiHome]
    ) -> bool:
        """Whether the API's stage exists; when it does not, a deployment is made due (it
        creates the stage)."""
        if api.stage_ready is None:
            assert api.api_id is not None
            found = gateways.apigateway.get_stage(api.api_id, self._settings.api_stage)
            api.stage_ready = found is not None
        if not api.stage_ready and not scheduler.pending(api.home):
            scheduler.changed(api.home)
        return api.stage_ready

    # ------------------------------------------------------------------ moving out

    def _homes(
        self, owner: Owner, site: RouteSite, previous_url: str | None, exclude: str | None
    ) -> list[ApiHome]:
        """Every REST API of this account and region the owner's route may be in."""
        directory = self._directory(site)
        homes = [ApiHome(site.account, site.region, namespace=owner.namespace)]
        ids = [site.configured] if site.configured else []
        ids += directory.legacy_apis()
        url = parse_invoke_url(previous_url)
        if url is not None and url.region == site.region:
            # A status is a hint, never a credential: another namespace's REST API is not one
            # of this object's homes, whatever its status says.
            found = directory.owner_of(url.api_id)
            if found in (None, LEGACY, owner.namespace):
                ids.append(url.api_id)
        own = directory.namespace_api(owner.namespace)
        for api_id in dict.fromkeys(ids):
            if api_id != own:
                homes.append(ApiHome(site.account, site.region, api_id=api_id))
        return [h for h in homes if exclude is None or self._id_of(h, site) != exclude]

    def _id_of(self, home: ApiHome, site: RouteSite) -> str | None:
        if home.namespace is None:
            return home.api_id
        return self._directory(site).namespace_api(home.namespace)

    def _move_out(
        self, route: RouteSpec, site: RouteSite, home: ApiHome, api_id: str, previous: str | None
    ) -> tuple[str, ...]:
        """Takes the owner's routes out of every other REST API; where they were."""
        moved: list[str] = []
        for other in self._homes(route.owner, site, previous, exclude=api_id):
            if self._take_out(other, site, route.owner, None, keep_key=route)[0]:
                moved.append(other.describe())
        return tuple(moved)

    def _take_out(
        self,
        home: ApiHome,
        site: RouteSite,
        owner: Owner,
        path: str | None,
        keep_key: RouteSpec | None = None,
    ) -> tuple[bool, bool]:
        """Removes the owner's routes (at ``path`` only, when given) from one REST API:
        (whether one went, whether others are left there)."""
        api = self._api(home, site)
        gateways = self._gateway(site.region, site.identity)
        with api.lock:
            try:
                api_id = self._rest_api(api, site, create=False)
                if api_id is None:
                    return False, False
                tree, fresh = self._tree(api)
                if not tree.owned_paths(owner.uid):
                    return False, False  # the cached view is enough to know there is nothing
                if not fresh:
                    tree.load()  # never delete on a cached view
            except (AwsError, RouteError) as exc:
                if isinstance(exc, AwsError) and exc.kind is not ErrorKind.NOT_FOUND:
                    raise
                return False, False  # no such REST API (any more) in this account
            owned = tree.owned_paths(owner.uid)
            targets = owned if path is None else owned & {core.resource_path(path)}
            for target in sorted(targets):
                required = (tree.post(target) or {}).get("apiKeyRequired")
                if required and (
                    keep_key is None or keep_key.authorization != Authorization.API_KEY
                ):
                    # Before the method stops requiring the key, so a crash cannot strand it.
                    self._keys.remove(gateways.apigateway, site.account, owner)
                log.info("removing route %s of %s from %s", target, _who(owner), home.describe())
                self._delete_route(api, gateways, tree, target)
            return bool(targets), bool(owned - targets)

    def _holds_nothing_of(self, site: RouteSite, api_id: str, owner: Owner) -> bool:
        """Whether REST API ``api_id`` serves no route of the owner any more (its removal is
        deployed), as far as this process knows; unknown APIs hold nothing of ours."""
        with self._lock:
            found = [a for a in self._apis.values() if a.api_id == api_id]
        for api in found:
            if api.tree is not None and api.tree.owned_paths(owner.uid):
                return False
            # A removal not deployed yet is still served, unless the stage itself is gone.
            if not api.emptied and self._scheduler(site.account, site.region).pending(api.home):
                return False
        return True

    # ------------------------------------------------------------------ changing routes

    def _check_lambda(self, gateways: RouteGateways, route: RouteSpec, site: RouteSite) -> None:
        """SPEC §5 "Lambdas": where no EndpointPolicy sets routes.lambdaArns, the function must
        carry the namespace's tag or match SAGEMETER_LAMBDA_ARNS. Read as the object itself."""
        assert route.lambda_arn is not None
        if site.lambda_policed:
            return  # the policies' allow-lists decided (tenancy guardrails)
        namespace = route.owner.namespace
        key = (site.identity, namespace, route.lambda_arn)
        with self._lock:
            checked = self._entitled.get(key)
        if checked is not None and self._clock() - checked < ENTITLEMENT_SECONDS:
            return
        try:
            tags = gateways.lambda_.function_tags(route.lambda_arn)
        except AwsError as exc:
            if exc.kind is ErrorKind.NOT_FOUND:
                raise _lambda_missing(route.lambda_arn) from exc
            raise
        if not lambda_entitled(route.lambda_arn, namespace, tags, site.lambda_globs):
            with self._lock:
                self._entitled.pop(key, None)
            raise RouteError(
                LAMBDA_NOT_ALLOWED,
                f"Lambda function {route.lambda_arn} is not this namespace's: it must carry the"
                f" tag sagemeter.io/namespace={namespace}, or match the operator's"
                " SAGEMETER_LAMBDA_ARNS, or an EndpointPolicy must allow it in"
                " routes.lambdaArns; no permission was granted and no route written",
            )
        with self._lock:
            now = self._clock()
            # Entitlements past their time are read again anyway: they are not kept (a
            # route's Lambda replaced, or its object gone, left one for the process's life).
            for old in [k for k, at in self._entitled.items() if now - at >= ENTITLEMENT_SECONDS]:
                del self._entitled[old]
            self._entitled[key] = now

    def _write_route(
        self,
        api: _Api,
        gateways: RouteGateways,
        tree: ResourceTree,
        route: RouteSpec,
        config: MethodConfig,
    ) -> bool:
        """Makes the route exactly ``config``; True when it had to change something.

        Everything that can refuse the route (a conflict, a missing authorizer or Lambda)
        is checked before anything is changed, so a refused spec leaves the old route serving.
        """
        api_id, path, region = tree.api_id, core.resource_path(route.path), api.home.region
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
            self._keys.remove(apigateway, api.home.account, route.owner)
        for moved in sorted(previous - {path}):
            log.info("route %s of %s moves to %s", moved, _who(route.owner), path)
            self._delete_route(api, gateways, tree, moved)
        old_lambda = core.lambda_arn_from_uri(tree.integration_uri(path))
        if old_lambda and old_lambda != route.lambda_arn:
            lambda_.remove_permission(old_lambda, core.lambda_statement_id(api_id, path))
        api.emptied = False
        tree.write_route(path, config, apigateway)
        log.info(
            "route %s -> %s (%s) written for %s in %s",
            path,
            route.lambda_arn or route.endpoint_name,
            route.authorization,
            _who(route.owner),
            api.home.describe(),
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
                raise _lambda_missing(route.lambda_arn) from exc
            raise

    def _delete_route(
        self, api: _Api, gateways: RouteGateways, tree: ResourceTree, path: str
    ) -> None:
        function = core.lambda_arn_from_uri(tree.integration_uri(path))
        if function:
            gateways.lambda_.remove_permission(
                function, core.lambda_statement_id(tree.api_id, path)
            )
        tree.delete_route(path, gateways.apigateway)
        self._scheduler(api.home.account, api.home.region).changed(api.home)
        api.generations.pop(path, None)

    # ------------------------------------------------------------------ deployments

    def _deploy(self, home: ApiHome) -> None:
        """Deploys one REST API to the stage; runs under the API's lock, as the API's owner.
        An API left without routes has its stage deleted, and a REST API sagemeter made (a
        namespace's, or its shared one of old) is deleted with it."""
        api = self._apis[home]
        if api.api_id is None:
            return
        apigateway = self._gateway(home.region, api.identity).apigateway
        stage, api_id = self._settings.api_stage, api.api_id
        if api.emptied:
            self._delete_if_ours(api, apigateway)  # a deletion that had to wait for its slot
            return
        try:
            deployment = apigateway.create_deployment(api_id, stage, "sagemeter")
        except AwsError as exc:
            if exc.code != "BadRequestException" or "any methods" not in exc.message.lower():
                raise
            # The last route is gone and an empty API cannot be deployed: delete the stage
            # so it stops serving the removed routes.
            apigateway.delete_stage(api_id, stage)
            api.stage_ready, api.emptied = False, True
            log.info("no routes left in %s: stage %s deleted", home.describe(), stage)
            self._delete_if_ours(api, apigateway)
            return
        api.stage_ready = True
        log.info("deployed REST API %s (%s) to %s: %s", api_id, home.describe(), stage, deployment)

    def _delete_if_ours(self, api: _Api, apigateway: ApiGatewayGateway) -> None:
        """Deletes an emptied REST API sagemeter made (never the platform's). Raises ``Paced``
        while DeleteRestApi's slot (1 per 30 s per account) is far: the scheduler retries."""
        assert api.api_id is not None
        with self._lock:
            directory = self._directories.get((api.home.account, api.home.region))
        if directory is None or directory.owner_of(api.api_id) in (None, NOT_LISTED):
            api.emptied = False
            return  # not sagemeter's (the platform's configured API): only its stage went
        api.tree = None  # decide on what the API holds now
        tree, _ = self._tree(api)
        if any(tree.post(p) is not None for p in tree.paths()):
            api.emptied = False
            return
        if api.home.namespace is not None:
            self._keys.remove_plans(apigateway, api.home.account, api.home.namespace, api.api_id)
        bound = [
            str(plan["id"])
            for plan in apigateway.usage_plans()
            if any(stage.get("apiId") == api.api_id for stage in plan.get("apiStages") or [])
        ]
        if bound:
            # Per-object plans of old, retired in the background: the API goes after them.
            raise RuntimeError(f"usage plans {bound} still name REST API {api.api_id}")
        apigateway.delete_rest_api(api.api_id)
        log.info("deleted REST API %s (%s): no routes left", api.api_id, api.home.describe())
        directory.dropped(api.api_id)
        api.api_id, api.tree, api.stage_ready, api.emptied = None, None, None, False
        api.generations.clear()

    def _deployed(self, home: ApiHome) -> None:
        if self._on_deployed is not None:
            self._on_deployed(home)


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
        and tree.meter_methods(path) == {m.http_method for m in config.meter}
    )


def _who(owner: Owner) -> str:
    return f"{owner.namespace}/{owner.name}"


def _lambda_missing(arn: str) -> RouteError:
    return RouteError(
        core.LAMBDA_NOT_FOUND,
        f"Lambda function {arn} does not exist: create it, set spec.api.lambdaArn to a function"
        " that exists, or remove spec.api.lambdaArn for a direct route to the endpoint",
    )
