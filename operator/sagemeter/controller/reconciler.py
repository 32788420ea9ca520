"""The one reconcile path: observe -> plan -> act -> status, for deletion too.

Every trigger (creation, spec change, a deadline, the periodic sync, a restart, the object's
deletion) runs `Reconciler.reconcile`. A pass observes the endpoint and proves whose it is
(`Observer`), decides with pure code from `core/` (desired state, plan, deletion plan), takes at
most one step in AWS, and writes the status `core.endpoint.status.compose_status` derives. A
crash anywhere resumes from what AWS shows. An endpoint whose tags name another owner is never
updated, deleted, routed to, alarmed on or garbage-collected: the object gets a Degraded reason
and causes no side effect in AWS beyond removing its own route (the event queue of its account
and region, and who may send to it, are set only after the proof). AWS calls run in a thread pool,
so a slow call never holds up the operator's event loop.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from sagemeter.api.models import (
    WAKE_ANNOTATION,
    AwsPlacement,
    EndpointIncarnation,
    ParkedReason,
    RefusedDeployment,
    WakeCount,
)
from sagemeter.aws.audit import AWS_CONTEXT
from sagemeter.aws.backoff import BACKOFFS
from sagemeter.aws.errors import AwsError
from sagemeter.aws.gateway import account_of, set_own_account
from sagemeter.aws.own_account import OwnAccount
from sagemeter.controller.acting import Actor, NameTaken
from sagemeter.controller.budgeting import Budgeting
from sagemeter.controller.cleanup import Cleanup
from sagemeter.controller.contexts import Contexts
from sagemeter.controller.deleting import Deleter
from sagemeter.controller.fleets import Fleets
from sagemeter.controller.notifying import Notices
from sagemeter.controller.observer import Observation, Observer, incarnation_of, seen_of
from sagemeter.controller.reporting import Reporter, aws_problem, refused_deployment
from sagemeter.controller.self_service import Extensions, SelfService
from sagemeter.controller.targets import Targets
from sagemeter.controller.waking import Waking
from sagemeter.core.endpoint.desired import (
    Desired,
    deleting_state,
    desired_state,
    expiry_cap,
    idle_record,
    parked_for,
    still_idle_parked,
)
from sagemeter.core.endpoint.ownership import OwnershipVerdict, conflict_message, proof_for
from sagemeter.core.endpoint.passes import (
    RouteAction,
    drops_idle_alarm,
    held_for_budget,
    polls,
    route_action,
    settles,
    supersedes_config,
    violation_blocks,
)
from sagemeter.core.endpoint.plan import (
    Action,
    Attempt,
    Step,
    dry_run_holds_back,
    plan_parked,
    plan_running,
    refusal_holds,
    refusal_message,
)
from sagemeter.core.endpoint.requests import Target
from sagemeter.core.endpoint.status import PassOutcome, Problem, Seen, compose_status
from sagemeter.core.endpoint.tags import resource_tags, spec_tag_keys
from sagemeter.core.meter.pricing import endpoint_hourly, format_usd
from sagemeter.core.tenancy.verdict import POLICY_VIOLATION, TenancyVerdict
from sagemeter.core.wake import HoldKind, RouteHold
from sagemeter.idle.alarms import IdleAlarms, IdleView
from sagemeter.idle.keeper import AlarmKeeper
from sagemeter.notify.notifier import Notifier
from sagemeter.routes.sync import RouteOutcome, RouteSync
from sagemeter.runtime.context import Context, Degraded, EventSink
from sagemeter.runtime.kube import Kube
from sagemeter.runtime.loops import NextPass, Nudge, next_pass
from sagemeter.runtime.metrics import FLEET
from sagemeter.runtime.prices import load_prices
from sagemeter.runtime.settings import Settings
from sagemeter.runtime.workers import KeyedLock, PassGate, Workers
from sagemeter.tenancy.accounting import Spend
from sagemeter.tenancy.book import BudgetBook
from sagemeter.tenancy.registry import Tenancy

log = logging.getLogger("sagemeter")
# While a route change waits for its coalesced deployment.
ROUTE_DEPLOY_POLL = 2.0
# Worker threads: the calls they make mostly wait on AWS or the apiserver, so a namespace's
# share (half) bounds how many of its calls are in flight at once. 64 was measured (the scale
# benchmark's 50-per-second storm): twice the calls in flight made the local AWS four times
# slower per call and the deadline calls waited longer, not shorter.
THREADS = 32
# Ordinary passes running at once, per worker thread (urgent ones are not counted): enough to
# keep every thread busy while others wait on AWS, few enough that a deadline's pass never
# queues behind a thousand of them in the event loop.
PASSES_PER_THREAD = 2


@dataclass
class _Pass:
    """What one pass learnt and did, gathered for the status it writes."""

    desired: Desired
    seen: Seen
    next_in: float  # seconds until the next pass
    step: Step | None = None
    problem: Problem | None = None
    dry_run_park: bool = False
    idle: IdleView = field(default_factory=IdleView)
    proof: EndpointIncarnation | None = None
    applied_tag_keys: list[str] | None = None
    # The endpoint under the object's name is someone else's; the step the pass planned (None:
    # it got no further). Together they say what the pass may do to the route.
    foreign: bool = False
    planned: Action | None = None
    created: bool = False
    woken_by_request: bool = False
    # Superseded models and configs still to collect (a collection AWS refused).
    cleanup_pending: bool | None = None
    # The sagemeter.io/wake annotation, and the refused deployment status keeps.
    wake_token: str | None = None
    refused: RefusedDeployment | None = None
    # What the object's endpoint counts against its budgets, as this pass saw it (reported to
    # the book only when `counted`: a pass that failed half-way leaves the last report).
    spend: Spend | None = None
    counted: bool = False
    # Whether the endpoint there now is proven the object's own (None: the pass cannot tell):
    # only its proven owner gets its events from the queue.
    owns_endpoint: bool | None = None
    # What a config used as is breaks (a PolicyViolation message): no route, no deployment.
    violation: str | None = None


class Reconciler:
    def __init__(
        self,
        settings: Settings,
        kube: Kube,
        events: EventSink,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        threads: int = THREADS,
        tenancy: Tenancy | None = None,
        book: BudgetBook | None = None,
        nudge: Nudge = lambda uid, urgent=False: None,
        account: OwnAccount | None = None,
        active: Callable[[], bool] = lambda: True,
    ) -> None:
        self.settings = settings
        self.account = account
        self.tenancy = tenancy
        self.kube = kube
        self.clock = clock
        self.workers = Workers(threads)
        self.gate = PassGate(threads * PASSES_PER_THREAD)
        self.one_pass = KeyedLock()
        self._learning = asyncio.Lock()
        self.contexts = Contexts(settings, tenancy)
        self.book = book
        self.reporter = Reporter(events, kube, self.workers)
        self.observer = Observer(self.workers, settings.sync_seconds)
        self.idle = IdleAlarms(settings.sync_seconds)
        self.prices = load_prices(settings.price_file)
        self.targets = Targets(settings, self.workers)
        self.cleanup = Cleanup(self.workers, self.reporter.event)
        self.fleets = Fleets(self.workers, self.prices, settings.sync_seconds)
        self.budgeting = Budgeting(book, self.fleets, self.prices)
        # When a park first had to wait for SageMaker (Creating, Updating, ...), per object.
        self._park_waits: dict[str, datetime] = {}
        self.alarms = AlarmKeeper(self.idle, self.workers, self.reporter.event)
        self.actor = Actor(self.workers, self.observer, self.alarms, self.reporter.event)
        self.route_sync = RouteSync(settings, kube, self.workers, self.reporter.event)
        self.deleter = Deleter(
            settings.dry_run, self.actor, self.cleanup, self.alarms, self.route_sync, self.reporter
        )
        self.notices = Notices(Notifier(nudge, active), self.reporter.event)
        self.self_service = SelfService(
            self.workers, self.reporter.event, Extensions(kube, nudge, clock)
        )
        self.waking = Waking(
            settings.event_queue,
            self.observer,
            self.idle,
            kube,
            self.workers,
            self.route_sync,
            nudge,
            active,
            settings.cluster_id,
        )
        assert self.self_service.extensions is not None
        self.waking.dispatcher.extend = self.self_service.extensions.handle

    # ------------------------------------------------------------------ the pass

    async def reconcile(
        self, body: Mapping[str, Any], *, deleting: bool = False, urgent: bool = False
    ) -> NextPass | None:
        """One pass; when the next one is due, or None once a deletion is complete. An `urgent`
        pass (a deadline) does not wait for ordinary ones, and its AWS calls go first. Both
        the gate and the worker pool take namespaces in turn (`runtime.workers`)."""
        metadata = body.get("metadata", {})
        namespace, uid = str(metadata.get("namespace") or ""), str(metadata.get("uid") or "")
        # One pass of an object at a time: the deletion handler starts while the object's loop
        # may still be in a pass, whose route or alarm must not be written after the deletion
        # removed it.
        async with self.one_pass.hold(uid), self.gate.slot(urgent, namespace):
            return await self._pass(body, deleting)

    async def _pass(self, body: Mapping[str, Any], deleting: bool) -> NextPass | None:
        if self.account is not None and account_of(None) == "self":
            # Every pass waits for the one that asks: no context names the account "self"
            # once another pass has learnt it.
            async with self._learning:
                if account_of(None) == "self":
                    await self._learn_account(self.account)
        try:
            ctx = self.contexts.read(body)
        except ValidationError as error:
            log.error("cannot read %s: %s", body.get("metadata", {}).get("name"), error)
            return NextPass(self.settings.sync_seconds)
        AWS_CONTEXT.set({"object": f"{ctx.namespace}/{ctx.name}", "endpoint": ctx.endpoint_name})
        now = self.clock()
        policy = ctx.expiry_policy
        wake_token = (body["metadata"].get("annotations") or {}).get(WAKE_ANNOTATION)
        # The meter once per pass; what the pass learns later (idle, over budget) parks it.
        desired = desired_state(ctx.spec, ctx.created, now, policy)
        expiry = desired.expiry
        idle_parked = still_idle_parked(ctx.status.idle_park, expiry, wake_token)
        if idle_parked:
            desired = parked_for(desired, ParkedReason.IDLE)
        if deleting:
            desired = deleting_state(desired)
        run = _Pass(desired, Seen(ctx.endpoint_name, None), self.settings.sync_seconds)
        run.woken_by_request = not deleting and self.waking.woken_by_request(ctx)
        run.wake_token, run.refused = wake_token, ctx.status.refused_deployment
        tenancy = ctx.tenancy
        try:
            if tenancy is not None and not tenancy.allowed and tenancy.reason != POLICY_VIOLATION:
                # No identity to act as (NoPolicy, PolicyConflict) or the wrong place to act in
                # (AccountChanged): nothing happens in AWS for this object. A verdict that is not
                # known yet (TenancyNotSynced) is waited out, by a deletion too.
                if not tenancy.settled:
                    if deleting:
                        return NextPass(self.settings.poll_seconds)
                    run.next_in = self.settings.poll_seconds
                elif deleting:
                    self.deleter.leave(ctx, tenancy.reason, tenancy.message)
                    self._gone(ctx)
                    return None
                raise Degraded(str(tenancy.reason), str(tenancy.message))
            observation = await self.observer.observe(ctx)
            if deleting:
                if await self._delete(ctx, observation, run, now):
                    self._gone(ctx)
                    return None
            else:
                await self._run(ctx, observation, run, now)
        except Degraded as degraded:
            run.problem = Problem(degraded.reason, degraded.message)
        except NameTaken:
            # Someone else's create won the name this instant; the next pass proves whose it is.
            self.observer.forget(ctx)
            run.next_in = self.settings.poll_seconds
        except AwsError as error:
            run.problem, run.next_in = aws_problem(error, self.settings)
            backing_off = BACKOFFS.remaining(ctx.gateway.scope, ctx.region)
            if backing_off > 0:
                # Everyone in this account and region waits for the same backoff, each with
                # a little jitter so they do not all come back at once.
                run.next_in = BACKOFFS.jitter(max(backing_off, self.settings.poll_seconds))
        violation = tenancy is not None and tenancy.reason == POLICY_VIOLATION
        if violation:
            message = str(tenancy.message) if tenancy else ""
            run.problem = run.problem or Problem(POLICY_VIOLATION, message)
        if run.violation is not None:
            run.problem = run.problem or Problem(POLICY_VIOLATION, run.violation)
        wakes, wakes_today = self.waking.counts(ctx, run.woken_by_request, now)
        if run.woken_by_request:
            self.reporter.event(
                ctx, "Normal", "WokenByRequest", "a request through the route woke the endpoint"
            )
        action = route_action(
            foreign=run.foreign,
            planned=run.planned,
            policy_violation=violation or run.violation is not None,
        )
        route = await self._route(ctx, action, run, now, wakes_today)
        if route.pending:
            run.next_in = min(run.next_in, ROUTE_DEPLOY_POLL)
        problem = run.problem or route.problem
        if problem is None and run.desired.schedule_error:
            problem = Problem(
                "InvalidSchedule",
                f"spec.schedule.uptime: {run.desired.schedule_error}; name an IANA time zone"
                " (such as Europe/Berlin or UTC)",
            )
        if run.idle.armed_at is not None:
            run.next_in = min(run.next_in, max((run.idle.armed_at - now).total_seconds(), 0.0))
        hourly = endpoint_hourly(ctx.spec, self.prices)
        new = compose_status(
            ctx.status,
            PassOutcome(
                desired=run.desired,
                step=run.step,
                seen=run.seen,
                problem=problem,
                generation=ctx.generation,
                now=now,
                dry_run_park=run.dry_run_park,
                idle_park=idle_record(
                    ctx.status.idle_park,
                    run.desired,
                    idle_parked,
                    expiry,
                    wake_token,
                    now,
                    dry_run=self.settings.dry_run,
                ),
                last_invocation_at=run.idle.last_invocation_at,
                hourly_cost_usd=format_usd(hourly),
                invoke_url=route.invoke_url,
                api_key_secret=route.api_key_secret,
                incarnation=run.proof,
                applied_tag_keys=run.applied_tag_keys,
                aws=ctx.status.aws or (_placed(tenancy) if run.proof or run.created else None),
                wakes=wakes,
                wakes_today=wakes_today,
                woken=run.woken_by_request,
                cleanup_pending=run.cleanup_pending,
                max_expires_at=expiry_cap(ctx.created, ctx.expiry_policy),
                refused_deployment=run.refused,
            ),
        )
        self.waking.remember(ctx, new, now, run.owns_endpoint)
        if run.counted:
            wants = run.desired.running or run.desired.reason == ParkedReason.OVER_BUDGET
            self.budgeting.report(ctx, run.spend, wants, now)
        FLEET.update(ctx.uid, new.phase or "Pending", new.parked_reason, hourly)
        self.reporter.announce(ctx, new)
        extended = self.self_service.announce(ctx, new)
        self.notices.record(ctx, new, extended)
        await self.self_service.settle(ctx, new)
        version = await self.reporter.write_status(ctx, new)
        self.contexts.wrote(ctx.uid, new, version)
        self.notices.written(ctx, new)
        self.notices.send(ctx, new, now, extended, self.self_service.hints(ctx, new.invoke_url))
        if not await self.self_service.mirror_meter(ctx, new):
            run.next_in = min(run.next_in, self.settings.poll_seconds)
        return next_pass(run.next_in, run.desired.next_transition_at, now)

    async def _learn_account(self, account: OwnAccount) -> None:
        """The operator's own account, asked on the first pass rather than at start-up."""
        learnt = await self.workers.run(account.learn)
        # Backoffs and quota slots of the operator's own calls are that account's.
        set_own_account(learnt)
        if learnt is not None and self.tenancy is not None:
            self.tenancy.learn_account(learnt)

    async def _run(self, ctx: Context, observation: Observation, run: _Pass, now: datetime) -> None:
        """The pass of a live object: prove, decide, act once."""
        endpoint, ownership = observation.endpoint, observation.ownership
        run.owns_endpoint = observation.proof is not None
        if ownership is not None and ownership.verdict == OwnershipVerdict.FOREIGN:
            run.foreign = True
            run.counted = True  # not its endpoint: it counts nothing
            raise Degraded(
                str(ownership.reason),
                conflict_message(
                    ctx.endpoint_name,
                    ownership,
                    namespace=ctx.namespace,
                    adopt=ctx.spec.adopt,
                    grant=ctx.grant,
                ),
            )
        adoptable = ownership is not None and ownership.verdict == OwnershipVerdict.ADOPTABLE
        # A config used as is is held to the guardrails before anything is done with it in AWS:
        # one that breaks them is not adopted, created from or updated to (parks still happen).
        judged = await self.fleets.judge(ctx, endpoint, adoptable)
        if judged is not None:
            run.violation = str(judged.message)
            if adoptable or endpoint is None:
                raise Degraded(POLICY_VIOLATION, run.violation)
            ctx = replace(ctx, tenancy=judged)
        else:
            # Only after the proof: with wakeOnRequest this lets the object's invoke role send
            # to the queue of its account and region, a change in AWS no conflicting object may
            # make. AWS's events about it come through the queue from now.
            await self.waking.ensure(ctx)
        if endpoint is not None and ownership is not None and adoptable:
            await self.cleanup.adopt(
                ctx, endpoint.arn, resource_tags(ctx.owner, ctx.spec.tags), ownership.released
            )
            incarnation = incarnation_of(endpoint)
            run.proof = proof_for(incarnation, ctx.owner) if incarnation else None
            run.owns_endpoint = run.proof is not None
            if run.proof is not None:
                self.observer.proven(ctx, run.proof)
            run.applied_tag_keys = spec_tag_keys(ctx.spec.tags)
            run.seen = seen_of(ctx, endpoint, None)
            run.next_in = self.settings.poll_seconds
            return
        run.proof = observation.proof
        run.seen = seen_of(ctx, endpoint, None)
        desired = run.desired
        if desired.running and endpoint is not None and endpoint.status == "InService":
            run.idle = await self.alarms.keep(ctx, now, endpoint.variant_names)
            if run.idle.idle:
                run.desired = desired = parked_for(desired, ParkedReason.IDLE)
        target: Target | None = None
        hourly: Decimal | None = None
        update_waits: str | None = None
        if desired.running:
            target = await self.targets.resolve(ctx, endpoint)
            hourly, call = await self.budgeting.before(ctx, endpoint, target, now)
            update_waits = call.update_waits
            if call.over_budget is not None:
                run.desired = desired = parked_for(
                    desired, ParkedReason.OVER_BUDGET, call.over_budget
                )
        view = endpoint.view() if endpoint else None
        if desired.running:
            assert target is not None
            run.seen = seen_of(ctx, endpoint, target)
            attempt = Attempt(ctx.status.attempted_config_name, ctx.status.attempted_generation)
            run.step = step = plan_running(target.config_name, view, attempt, ctx.generation)
            run.step = step = held_for_budget(step, update_waits)
        else:
            assert desired.reason is not None
            run.step = step = plan_parked(view, desired.reason)
        run.planned = step.action
        violation = ctx.tenancy is not None and ctx.tenancy.reason == POLICY_VIOLATION
        if violation_blocks(violation, step.action):
            raise Degraded(POLICY_VIOLATION, str(ctx.tenancy.message) if ctx.tenancy else "")
        deploys = step.action in (Action.CREATE, Action.UPDATE)
        if (
            deploys
            and target is not None
            and refusal_holds(run.refused, target.config_name, ctx.generation, run.wake_token)
        ):
            assert run.refused is not None
            run.step = None  # SageMaker refused exactly this: not sent again
            raise Degraded(run.refused.reason, refusal_message(run.refused, ctx.name))
        if not desired.running and step.action == Action.WAIT:
            self._park_waits.setdefault(ctx.uid, now)
        waited = self._park_waits.pop(ctx.uid, None) if step.action == Action.DELETE else None
        if dry_run_holds_back(step, self.settings.dry_run, desired.running):
            run.dry_run_park = True
        elif step.acts:
            billed = (now - waited).total_seconds() if waited is not None else None
            if supersedes_config(step):
                run.cleanup_pending = True
            try:
                run.seen = await self.actor.act(ctx, step, target, run.seen, billed)
            except (AwsError, Degraded) as error:
                # Nothing was started: the phase stays what it was (never a Creating that
                # does not happen), and the problem is reported.
                run.step = None
                if isinstance(error, AwsError) and deploys and target is not None:
                    refused = refused_deployment(
                        ctx, error, target.config_name, run.wake_token, self.settings
                    )
                    if refused is not None:
                        run.refused = refused
                        raise Degraded(
                            refused.reason, refusal_message(refused, ctx.name)
                        ) from error
                raise
            if step.action == Action.CREATE:
                run.applied_tag_keys = spec_tag_keys(ctx.spec.tags)
                run.created = True
                run.owns_endpoint = True  # its CreateEndpoint made this incarnation
        elif (
            endpoint is not None
            and target is not None
            and settles(step, endpoint.config_name, target.config_name)
        ):
            run.cleanup_pending = True  # until the settling below has gone through
            applied = await self.cleanup.settle(ctx, endpoint.arn, target, ctx.status.phase)
            run.applied_tag_keys = applied if applied is not None else run.applied_tag_keys
            run.cleanup_pending = False
        if polls(step):
            run.next_in = self.settings.poll_seconds
        if drops_idle_alarm(
            step, ctx.spec.idle is not None, ctx.status.observed_generation, ctx.generation
        ):
            await self.alarms.drop(ctx)
        if ctx.budgets and self.book is not None:
            run.counted = True
            run.spend = await self.budgeting.spend(
                ctx, endpoint, run.seen.sagemaker_status, target, hourly
            )

    async def _delete(
        self, ctx: Context, observation: Observation, run: _Pass, now: datetime
    ) -> bool:
        """The pass of an object being deleted; True once nothing is left to do in AWS."""
        step, seen = await self.deleter.delete(
            ctx, observation, lambda: seen_of(ctx, observation.endpoint, None)
        )
        if step is None:
            if ctx.acting and (ctx.status.meter_parameter or self.self_service.wanted(ctx)):
                await self.self_service.remove(ctx)  # AwsError: the deletion waits for it
            return True
        run.step, run.proof, run.seen = step, observation.proof, seen or run.seen
        run.next_in = self.settings.poll_seconds
        run.counted = True  # its delete was sent or waits: it asks for nothing any more
        return False

    def kept(self) -> dict[str, Callable[[], int]]:
        """What this keeps per object, by name, for ``sagemeter_kept_entries``."""
        return {
            "targets": self.targets.kept,
            "proofs": self.observer.kept,
            "alarms_absent": self.idle.kept,
            "fleets": self.fleets.kept,
            "status_writes": self.contexts.kept,
            "fleet_entries": FLEET.kept,
            "event_objects": self.waking.dispatcher.kept,
            "meter_parameters": self.self_service.mirror.kept,
            "park_waits": lambda: len(self._park_waits),
            "tags": lambda: len(self.observer.tags),
        }

    def _gone(self, ctx: Context) -> None:
        """The object is deleted: it counts nowhere any more."""
        FLEET.forget(ctx.uid)
        self.waking.forget(ctx.uid)
        self.notices.notifier.forget(ctx.uid)
        self.self_service.mirror.forget(ctx.uid)
        if self.self_service.extensions is not None:
            self.self_service.extensions.forget(ctx.uid)
        self.contexts.forget(ctx.uid)
        self.targets.forget(ctx.uid)
        self.observer.forget_proof(ctx.uid)
        self.idle.forget(ctx.uid)
        self._park_waits.pop(ctx.uid, None)
        if self.book is not None:
            self.book.report(None, ctx.uid)

    async def _route(
        self,
        ctx: Context,
        action: RouteAction,
        run: _Pass,
        now: datetime,
        today: WakeCount | None,
    ) -> RouteOutcome:
        kept = RouteOutcome(ctx.status.invoke_url, ctx.status.api_key_secret)
        try:
            if action == RouteAction.SYNC:
                queue = await self.waking.ensure(ctx)
                phase = run.step.phase if run.step else ctx.status.phase
                hold = self.waking.hold(ctx, run.desired, phase, now, run.woken_by_request, today)
                if hold is not None and hold.kind == HoldKind.WAKING and queue is None:
                    hold = RouteHold(HoldKind.PARKED, hold.reason, hold.retry_after)
                target = (queue.account, self.settings.event_queue) if queue else None
                return await self.route_sync.sync(ctx, hold, target)
            if action == RouteAction.REMOVE and (
                ctx.status.invoke_url or ctx.status.api_key_secret
            ):
                await self.route_sync.remove(ctx)
                return RouteOutcome()
        except AwsError as error:
            problem, _ = aws_problem(error, self.settings)
            return RouteOutcome(kept.invoke_url, kept.api_key_secret, problem)
        return RouteOutcome() if action == RouteAction.REMOVE else kept


def _placed(tenancy: TenancyVerdict | None) -> AwsPlacement | None:
    return tenancy.placement if tenancy is not None else None
