"""The orphan sweep: endpoints of this cluster whose ManagedEndpoint is gone, counted against
their namespace's budgets and parked after `SAGEMETER_ORPHAN_GRACE` (SPEC §5 "Orphans and
Retain"; the rule is `core.endpoint.orphans`).

Each round, per (account, region, shared reader) the operator knows (those its passes swept,
every EndpointPolicy role's account in its regions, and its own account in its region):

1. the endpoints, from the same `ListEndpoints` sweep the passes read (`EndpointDirectory`),
   and their tags (`ListTags`, kept per incarnation), read as the shared reader of that account
   (SPEC §5 "Shared readers"), never as a tenant's namespace session;
2. then the objects that exist (one list of ManagedEndpoints; a failed list means no round at
   all: "no answer" is never "no objects"), and the tags of each orphan candidate read again,
   so a `Retain` release made meanwhile is seen;
3. each orphan is reported to the budget book in the place of its gone object (its uid), so
   the next endpoint that would not fit waits `OverBudget`; once the grace has passed since it
   was first seen, its endpoint is deleted as its namespace's session (config and model stay),
   with an Event in its namespace (on the gone ManagedEndpoint) and the metric
   `sagemeter_orphans_parked_total`; `sagemeter_orphan_endpoints` counts those that wait;
4. entries of the book for objects deleted without their deletion pass, and neither alive nor
   orphans now, are dropped, but only after a round where every sweep answered.

Nothing is done before the EndpointPolicies and namespaces are in sync. Another cluster's
endpoints, released ones and those of namespaces this operator does not serve are never
touched: not even their tags are written.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sagemeter.api.models import GROUP, KIND, VERSION
from sagemeter.aws.clients import Identity
from sagemeter.aws.errors import AwsError, ErrorKind
from sagemeter.aws.gateway import account_of
from sagemeter.aws.sagemaker import SageMakerGateway
from sagemeter.controller.observer import Observer
from sagemeter.core.endpoint.fleet import Fleet, fleet_hourly, variants_of
from sagemeter.core.endpoint.observe import Sighting
from sagemeter.core.endpoint.orphans import Orphan, gone_from_book, orphan_of, orphan_step
from sagemeter.core.endpoint.plan import Action
from sagemeter.core.meter.pricing import PriceTable, format_usd
from sagemeter.core.tenancy.budget import Activity, Candidate, activity_of
from sagemeter.core.tenancy.effective import PolicyConflict, budget_limit, effective_policy
from sagemeter.runtime.apiserver import ApiError
from sagemeter.runtime.kube import Kube
from sagemeter.runtime.metrics import ORPHANS, ORPHANS_PARKED
from sagemeter.runtime.settings import Settings
from sagemeter.runtime.workers import Workers
from sagemeter.tenancy.book import BudgetBook
from sagemeter.tenancy.registry import Tenancy

log = logging.getLogger("sagemeter")

TAG_READS = 8  # ListTags calls of one sweep at a time
COUNT = "orphans"  # the book waits for the first round before anything starts
Reader = tuple[str, str, Identity | None]  # (account, region, shared reader)
Seen = tuple[Reader, str, Sighting, dict[str, str]]  # an endpoint, where it was seen, its tags


@dataclass
class _Known:
    """An orphan as the sweep follows it."""

    orphan: Orphan
    first_seen: datetime
    hourly: Decimal | None = None
    priced: bool = False
    parked: bool = False


class Orphans:
    def __init__(
        self,
        settings: Settings,
        kube: Kube,
        workers: Workers,
        observer: Observer,
        book: BudgetBook | None,
        tenancy: Tenancy | None,
        prices: PriceTable,
        served: Collection[str] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.kube = kube
        self.workers = workers
        self.observer = observer
        self.book = book
        self.tenancy = tenancy
        self.prices = prices
        self.served = frozenset(served) if served else None
        self.clock = clock
        self.grace = timedelta(seconds=settings.orphan_grace_seconds)
        if book is not None:
            book.expect(COUNT)
        self._known: dict[str, _Known] = {}  # by the gone object's uid
        self._gauged: set[str] = set()  # namespaces the gauge has shown

    # ------------------------------------------------------------------ where to look

    def readers(self) -> list[Reader]:
        """The (account, region, shared reader)s to sweep: every one a pass swept, every
        EndpointPolicy role's account (as that policy's session) in its regions, and the
        operator's own account in its region."""
        own = account_of(None)
        found: dict[Reader, None] = dict.fromkeys(
            # "self": the operator's own account before it was known, now known.
            key
            for key in self.observer.readers()
            if not (key[0] == "self" and own != "self")
        )
        found[(own, self.settings.region, None)] = None
        tenancy = self.tenancy
        if tenancy is None:
            return list(found)
        for policy in tenancy.policies():
            aws = policy.spec.aws
            if aws is None or not aws.role_arn:
                continue
            if self.served is not None and not self.served & set(
                tenancy.namespaces_of(policy.name)
            ):
                continue  # it selects no namespace this operator serves
            reader = Identity(aws.role_arn, sts_region=self.settings.region, policy=policy.name)
            for region in aws.regions or [self.settings.region]:
                found[(account_of(reader), region, reader)] = None
        # One sweep per (account, region): the first reader that can see it.
        chosen: dict[tuple[str, str], Reader] = {}
        for key in found:
            chosen.setdefault((key[0], key[1]), key)
        return list(chosen.values())

    # ------------------------------------------------------------------ one round

    async def sweep(self) -> bool:
        """One round; False when it could not run yet (policies and namespaces not in sync:
        nothing is counted or parked on a guess)."""
        if self.tenancy is not None and not self.tenancy.synced:
            return False
        before = self.book.uids() if self.book is not None else set()
        seen: list[Seen] = []
        complete = True
        for reader in self.readers():
            try:
                seen += await self._endpoints(reader)
            except AwsError as error:
                complete = False
                log.warning("orphan sweep of %s/%s failed: %s", reader[0], reader[1], error)
        if complete:  # tags of endpoints no longer there are not kept
            there = {(s.arn, _created(s)) for _, _, s, _ in seen}
            # The listing may be up to a sync interval old: an endpoint made since then is
            # not in it yet, and its proof's tags stay (or the next round reads them again).
            listed_by = self.clock() - timedelta(seconds=2 * self.settings.sync_seconds)
            for gone in [
                k
                for k in self.observer.tags
                if k not in there and (k[1] is None or k[1] < listed_by)
            ]:
                del self.observer.tags[gone]
        live = await self.workers.run(self._uids)
        cluster = self.settings.cluster_id
        found: dict[str, tuple[Reader, Orphan, Sighting]] = {}
        for reader, name, sighting, tags in seen:
            assert sighting.arn is not None
            listed = orphan_of(name, sighting.arn, tags, cluster, live, self.served)
            if listed is None or not self._at_home(listed.namespace, reader):
                continue
            gateway = self._gateway(reader[1], reader[2])
            try:  # read again: a release (or a new owner) made meanwhile counts
                fresh = await self.workers.run(gateway.list_tags, sighting.arn)
            except AwsError as error:
                complete = complete and error.kind is ErrorKind.NOT_FOUND
                continue
            self.observer.tags[(sighting.arn, _created(sighting))] = fresh
            orphan = orphan_of(name, sighting.arn, fresh, cluster, live, self.served)
            if orphan is not None:
                found[orphan.uid] = (reader, orphan, sighting)
        now = self.clock()
        for reader, orphan, sighting in found.values():
            await self._follow(reader, orphan, sighting, now)
        for uid in set(self._known) - set(found):
            del self._known[uid]
        self._gauge()
        if self.book is not None:
            if complete:
                for uid in gone_from_book(before, live, found):
                    self.book.report(None, uid)
            # A sweep that could not answer for every account still counted what it found;
            # waiting for all of them would let one broken role stop every budget.
            self.book.arrived(COUNT)
        return True

    def _uids(self) -> set[str]:
        """The uids of the ManagedEndpoints that exist, where this operator serves (its RBAC
        may allow no more), read as metadata only."""
        if self.served is None:
            return self.kube.endpoint_uids()
        return {uid for ns in sorted(self.served) for uid in self.kube.endpoint_uids(ns)}

    async def _endpoints(self, reader: Reader) -> list[Seen]:
        scope, region, identity = reader
        directory = self.observer.directory_at(scope, region, identity)
        entries = await self.workers.run(directory.entries)
        gateway = self._gateway(region, identity)
        listed = [
            (name, sighting)
            for name, sighting in sorted(entries.items())
            if sighting.status is not None
            and sighting.arn is not None
            and sighting.incarnation is not None
        ]
        unknown = [s for _, s in listed if (s.arn, _created(s)) not in self.observer.tags]
        # Tags not known yet (a first round reads every endpoint's) are read a few at a time.
        limit = asyncio.Semaphore(TAG_READS)

        async def read(sighting: Sighting) -> None:
            assert sighting.arn is not None
            async with limit:
                try:
                    tags = await self.workers.run(gateway.list_tags, sighting.arn)
                except AwsError as error:
                    if error.kind is ErrorKind.NOT_FOUND:
                        return  # deleted since the listing: nothing to count or park
                    raise
            self.observer.tags[(sighting.arn, _created(sighting))] = tags

        await asyncio.gather(*(read(s) for s in unknown))
        return [
            (reader, name, sighting, tags)
            for name, sighting in listed
            if (tags := self.observer.tags.get((sighting.arn or "", _created(sighting))))
            is not None
        ]

    # ------------------------------------------------------------------ one orphan

    async def _follow(
        self, reader: Reader, orphan: Orphan, sighting: Sighting, now: datetime
    ) -> None:
        known = self._known.get(orphan.uid)
        if known is None or known.orphan.arn != orphan.arn:
            known = self._known[orphan.uid] = _Known(orphan, now)
            await self._event(
                orphan,
                "Warning",
                "Orphaned",
                f"{orphan.describe()}: the object was deleted without its deletion (a finalizer"
                " removed by hand?); the endpoint counts against namespace"
                f" {orphan.namespace}'s budgets and is parked at"
                f" {(now + self.grace).strftime('%Y-%m-%dT%H:%M:%SZ')}"
                " (SAGEMETER_ORPHAN_GRACE)",
            )
        status = str(sighting.status)
        budgets = self._budgets(orphan.namespace)
        if budgets and not known.priced:
            known.hourly = await self._hourly(reader, orphan)
            known.priced = True
        step = orphan_step(status, known.first_seen, now, self.grace)
        if step is not None and step.action == Action.DELETE and not known.parked:
            try:
                await self._park(reader, known)
            except AwsError as error:  # tried again next round
                log.warning("cannot park orphan %s: %s", orphan.describe(), error)
        if self.book is not None:
            activity = activity_of(status)
            counts = budgets and activity != Activity.WAITING and not known.parked
            self.book.report(
                Candidate(
                    uid=orphan.uid,
                    budgets=budgets,
                    hourly=known.hourly,
                    activity=activity,
                    since=sighting.incarnation.created if sighting.incarnation else now,
                    namespace=orphan.namespace,
                )
                if counts
                else None,
                orphan.uid,
            )

    async def _park(self, reader: Reader, known: _Known) -> None:
        orphan = known.orphan
        if self.settings.dry_run:
            await self._event(
                orphan,
                "Normal",
                "WouldPark",
                f"{orphan.describe()}: would be parked now (dry run)",
            )
            ORPHANS_PARKED.labels(namespace=orphan.namespace).inc()
            known.parked = True
            return
        home = self._home(orphan.namespace)
        if home is None:
            return  # its policies conflict now: nothing is done for the namespace
        gateway = self._gateway(reader[1], home[1])
        await self.workers.run(gateway.delete_endpoint, orphan.endpoint_name)
        known.parked = True
        ORPHANS_PARKED.labels(namespace=orphan.namespace).inc()
        price = f" ({format_usd(known.hourly)} USD/h)" if known.hourly is not None else ""
        await self._event(
            orphan,
            "Warning",
            "OrphanParked",
            f"{orphan.describe()}{price}: parked after {self.settings.orphan_grace}"
            " (SAGEMETER_ORPHAN_GRACE): the endpoint was deleted, its config and model are kept",
        )
        log.info("parked orphan %s", orphan.describe())

    # ------------------------------------------------------------------ helpers

    def _home(self, namespace: str) -> tuple[str, Identity | None] | None:
        """The account `namespace`'s endpoints live in, and the identity its calls are made as:
        its own session of its policy's role (None: the operator's, where no role is set);
        None when its policies conflict (nothing is done for it)."""
        role = None
        if self.tenancy is not None:
            effective = effective_policy(self.tenancy.policies_for(namespace))
            if isinstance(effective, PolicyConflict):
                return None
            role = effective.role_arn.value if effective.role_arn else None
        if role is None:
            return account_of(None), None
        identity = Identity(role, namespace=namespace, sts_region=self.settings.region)
        return account_of(identity), identity

    def _at_home(self, namespace: str, reader: Reader) -> bool:
        """Whether an endpoint tagged for `namespace`, seen where `reader` sweeps, is where that
        namespace's endpoints live. Tags are anyone's to write who may create endpoints in an
        account: one tagged for a namespace placed in another account is not its orphan, and
        is neither counted against its budget nor parked."""
        home = self._home(namespace)
        return home is not None and home[0] == reader[0]

    def _budgets(self, namespace: str) -> frozenset[str]:
        if self.tenancy is None:
            return frozenset()
        return frozenset(
            p.name for p in self.tenancy.policies_for(namespace) if budget_limit(p) is not None
        )

    async def _hourly(self, reader: Reader, orphan: Orphan) -> Decimal | None:
        """What the orphan's fleet costs, from its config as AWS describes it (None: unknown;
        the budgets' unknownPriceUSDPerHour then applies)."""
        gateway = self._gateway(reader[1], reader[2])
        try:
            described = await self.workers.run(gateway.describe_endpoint, orphan.endpoint_name)
            if described is None:
                return None
            config = await self.workers.run(gateway.describe_endpoint_config, described.config_name)
        except AwsError:
            return None
        if config is None:
            return None
        return fleet_hourly(Fleet(described.config_name, variants_of(config)), self.prices)

    def _gateway(self, region: str, identity: Identity | None) -> SageMakerGateway:
        return SageMakerGateway(region, identity=identity)

    async def _event(self, orphan: Orphan, type_: str, reason: str, message: str) -> None:
        """An Event in the orphan's namespace, about the ManagedEndpoint that is gone."""
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": KIND,
            "metadata": {"namespace": orphan.namespace, "name": orphan.name, "uid": orphan.uid},
        }
        log.info("%s/%s %s: %s", orphan.namespace, orphan.name, reason, message)
        now = self.clock().strftime("%Y-%m-%dT%H:%M:%SZ")
        try:
            await self.workers.run(self.kube.post_event, body, type_, reason, message, now)
        except ApiError as error:  # the metric and the log still tell
            log.warning("cannot post the %s Event of %s: %s", reason, orphan.describe(), error)

    def _gauge(self) -> None:
        counts: dict[str, int] = {}
        for known in self._known.values():
            if not known.parked:
                counts[known.orphan.namespace] = counts.get(known.orphan.namespace, 0) + 1
        for namespace in self._gauged - set(counts):
            ORPHANS.labels(namespace=namespace).set(0)
        for namespace, count in counts.items():
            ORPHANS.labels(namespace=namespace).set(count)
        self._gauged |= set(counts)

    async def run_forever(self, active: Callable[[], bool]) -> None:
        """A round per sync interval; until the first one ran, a try every second (budgets
        start nothing before it)."""
        ran = False
        while True:
            try:
                if active():
                    ran = await self.sweep() or ran
            except Exception:  # a failed round is tried again at the next interval
                log.exception("orphan sweep failed")
            await asyncio.sleep(self.settings.sync_seconds if ran else 1.0)


def _created(sighting: Sighting) -> datetime | None:
    return sighting.incarnation.created if sighting.incarnation else None
