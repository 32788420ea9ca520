"""Who runs and who waits under EndpointPolicy budgets (sagemeter.core.tenancy.budget):
scenario tables, then the properties of the decision checked with Hypothesis."""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sagemeter.api.models import ManagedEndpointSpec
from sagemeter.api.policy import OnDecrease
from sagemeter.core.meter.pricing import PriceTable, endpoint_hourly
from sagemeter.core.tenancy.budget import (
    Activity,
    BudgetDecision,
    Candidate,
    activity_of,
    added_cost,
    counted_cost,
    decide,
)
from sagemeter.core.tenancy.effective import BudgetLimit

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
QUEUE, PARK = OnDecrease.QUEUE, OnDecrease.PARK
W, C, R, U = Activity.WAITING, Activity.CREATING, Activity.RUNNING, Activity.UPDATING


def cand(
    uid: str, hourly: str | None, activity: Activity = W, minute: int = 0, budgets: str = "team"
) -> Candidate:
    return Candidate(
        uid=uid,
        budgets=frozenset(budgets.split()) if budgets else frozenset(),
        hourly=Decimal(hourly) if hourly is not None else None,
        activity=activity,
        since=T0 + timedelta(minutes=minute),
    )


def limit(
    usd: str, mode: OnDecrease = QUEUE, unknown: str | None = None, name: str = "team"
) -> BudgetLimit:
    return BudgetLimit(name, Decimal(usd), Decimal(unknown) if unknown else None, mode)


# -- scenarios ----------------------------------------------------------------------------


def test_backfill_a_smaller_later_one_starts_while_a_larger_earlier_one_waits() -> None:
    d = decide(
        [cand("run", "20", R), cand("big", "10", W, 1), cand("small", "4", W, 2)],
        {"team": limit("25")},
    )
    assert d.start == {"small"} and d.run == {"run", "small"} and set(d.wait) == {"big"}
    wait = d.wait["big"]
    assert (wait.budget, wait.spend, wait.limit, wait.cost) == ("team", 20, 25, 10)
    assert "EndpointPolicy team" in wait.message and "20.00 USD/h of 25.00 USD/h" in wait.message
    assert d.spend == {"team": Decimal(24)} and d.waiting == {"team": 1}


def test_waiting_ones_start_in_the_order_they_began_to_wait() -> None:
    d = decide([cand("late", "10", W, 5), cand("early", "10", W, 1)], {"team": limit("15")})
    assert d.start == {"early"} and set(d.wait) == {"late"}
    # The same instant: the uid decides, so the answer never depends on input order.
    d = decide([cand("b", "10", W, 1), cand("a", "10", W, 1)], {"team": limit("15")})
    assert d.start == {"a"}


def test_queue_a_lowered_budget_stops_new_starts_only() -> None:
    d = decide(
        [cand("old", "20", R, 0), cand("new", "10", C, 1), cand("tiny", "0.01", W, 2)],
        {"team": limit("25")},
    )
    assert d.run == {"old", "new"} and d.park == {} and set(d.wait) == {"tiny"}
    assert d.spend == {"team": Decimal(30)}


def test_park_a_lowered_budget_parks_the_newest_until_it_fits() -> None:
    d = decide(
        [cand("a", "10", R, 0), cand("b", "10", R, 1), cand("c", "10", C, 2), cand("w", "1", W, 3)],
        {"team": limit("15", PARK)},
    )
    assert set(d.park) == {"b", "c"} and d.run == {"a", "w"}
    park = d.park["c"]
    assert (park.budget, park.spend, park.limit) == ("team", 30, 15)
    assert "onDecrease: Park" in park.message
    assert d.spend == {"team": Decimal(11)}


def test_updating_counts_twice() -> None:
    updating = cand("u", "10", U)
    assert counted_cost(updating, limit("1")) == 20
    d = decide([updating, cand("w", "6", W, 1)], {"team": limit("25")})
    assert set(d.wait) == {"w"} and d.spend == {"team": Decimal(20)}


def test_unknown_price_counts_as_the_budget_says_or_is_refused() -> None:
    unknown = cand("x", None, W)
    d = decide([unknown], {"team": limit("25", unknown="5.00")})
    assert d.start == {"x"} and d.spend == {"team": Decimal(5)}
    d = decide([unknown], {"team": limit("25")})
    assert d.wait["x"].cost is None and "unknownPriceUSDPerHour" in d.wait["x"].message
    # Already running: Queue keeps it (counting nothing), Park parks it.
    assert decide([replace(unknown, activity=R)], {"team": limit("25")}).run == {"x"}
    assert set(decide([replace(unknown, activity=R)], {"team": limit("25", PARK)}).park) == {"x"}


def test_every_budget_must_have_room_and_the_first_without_is_named() -> None:
    budgets = {"a": limit("100", name="a"), "b": limit("10", name="b")}
    d = decide([cand("r", "8", R, 0, "b"), cand("w", "5", W, 1, "a b")], budgets)
    assert d.wait["w"].budget == "b" and d.wait["w"].spend == 8
    assert d.spend == {"a": Decimal(0), "b": Decimal(8)}


def test_no_budget_no_limit_and_a_zero_budget_is_a_freeze() -> None:
    assert decide([cand("free", "999", W, budgets="")], {}).start == {"free"}
    d = decide([cand("r", "1", R), cand("w", "1", W, 1)], {"team": limit("0")})
    assert d.run == {"r"} and set(d.wait) == {"w"}
    assert decide([cand("r", "1", R)], {"team": limit("0", PARK)}).run == set()


def test_parking_for_one_budget_frees_the_others() -> None:
    budgets = {"tight": limit("5", PARK, name="tight"), "shared": limit("12", name="shared")}
    d = decide(
        [
            cand("old", "6", R, 0, "shared"),
            cand("new", "6", R, 1, "tight shared"),
            cand("w", "6", W, 2, "shared"),
        ],
        budgets,
    )
    assert set(d.park) == {"new"} and d.start == {"w"}


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="distinct"):
        decide([cand("x", "1"), cand("x", "2")], {"team": limit("1")})
    with pytest.raises(ValueError, match="not given"):
        decide([cand("x", "1", budgets="nope")], {})


@pytest.mark.parametrize(
    ("status", "activity"),
    [
        (None, W),
        ("Failed", W),
        ("Creating", C),
        ("InService", R),
        ("OutOfService", R),
        ("SystemUpdating", R),
        ("UpdateRollbackFailed", R),
        ("Deleting", W),
        ("Updating", U),
        ("RollingBack", U),
    ],
)
def test_activity_of_what_sagemaker_shows(status: str | None, activity: Activity) -> None:
    assert activity_of(status) == activity


def update(
    uid: str,
    current: str | None,
    target: str | None,
    activity: Activity = R,
    minute: int = 0,
    asked: int | None = None,
) -> Candidate:
    return replace(
        cand(uid, target, activity, minute),
        current=Decimal(current) if current is not None else None,
        replacing=True,
        asked=T0 + timedelta(minutes=asked) if asked is not None else None,
    )


def test_an_update_that_would_exceed_the_budget_is_not_sent() -> None:
    """ml.m5.large (0.12) within 2.00 patched to 2 x ml.g5.xlarge (2.82): the update would
    run both fleets (2.94) and then 2.82; it waits, and the running fleet stays."""
    grow = update("grow", "0.12", "2.82")
    d = decide([grow], {"team": limit("2.00")})
    assert d.run == {"grow"} and d.start == set() and d.park == {}
    wait = d.wait["grow"]
    assert (wait.spend, wait.cost) == (Decimal("0.12"), Decimal("2.82"))
    assert "the update waits" in wait.message and "blue/green" in wait.message
    assert d.spend == {"team": Decimal("0.12")} and d.waiting == {"team": 1}
    # Room for both fleets: the update goes out.
    d = decide([grow], {"team": limit("3.00")})
    assert d.start == {"grow"} and d.spend == {"team": Decimal("2.94")}


def test_while_updating_both_fleets_count() -> None:
    updating = update("u", "0.12", "2.82", U)
    assert counted_cost(updating, limit("9")) == Decimal("2.94")
    d = decide([updating, cand("w", "0.10", W, 1)], {"team": limit("3.00")})
    assert set(d.wait) == {"w"} and d.spend == {"team": Decimal("2.94")}
    # Unknown on either side: the budget's unknown price, or refused.
    assert counted_cost(update("x", None, "1", U), limit("9", unknown="5")) == 6
    assert counted_cost(update("x", None, "1", U), limit("9")) is None
    # A shrinking update needs room for both fleets too (blue/green).
    shrink = update("s", "2.00", "0.50")
    assert added_cost(shrink, limit("9")) == Decimal("0.50")
    assert set(decide([shrink], {"team": limit("2.40")}).wait) == {"s"}


def test_updates_and_starts_take_turns_by_when_they_asked() -> None:
    d = decide(
        [
            update("grow", "1", "2", R, minute=0, asked=5),  # runs since 0, asked at 5
            cand("new", "2", W, 3),  # began to wait at 3
        ],
        {"team": limit("3")},
    )
    assert d.start == {"new"} and set(d.wait) == {"grow"}


def test_hourly_cost_of_each_kind_of_endpoint() -> None:
    table = PriceTable(
        {"ml.g5.xlarge": Decimal("1.408")}, serverless_usd_per_gb_hour=Decimal("0.072")
    )
    realtime = ManagedEndpointSpec.model_validate(
        {"instanceType": "ml.g5.xlarge", "instanceCount": 2}
    )
    assert endpoint_hourly(realtime, table) == Decimal("2.816")
    serverless = ManagedEndpointSpec.model_validate(
        {"inferenceType": "Serverless", "serverless": {"memorySizeMB": 2048, "maxConcurrency": 5}}
    )
    assert endpoint_hourly(serverless, table) == Decimal("0.720")  # 5 x 2 GB x 0.072
    defaults = ManagedEndpointSpec.model_validate({"inferenceType": "Serverless"})
    assert endpoint_hourly(defaults, table) == Decimal("0.720")
    assert endpoint_hourly(serverless, PriceTable({})) is None
    existing = ManagedEndpointSpec.model_validate({"model": {"endpointConfigName": "cfg"}})
    assert endpoint_hourly(existing, table) is None
    adopted = ManagedEndpointSpec.model_validate({"adopt": True, "endpointName": "nb"})
    assert endpoint_hourly(adopted, table) is None


# -- properties ------------------------------------------------------------------------------

NAMES = ("a", "b", "c")
money = st.integers(0, 40).map(lambda n: Decimal(n) / 2)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[Candidate], dict[str, BudgetLimit]]:
    names = draw(st.lists(st.sampled_from(NAMES), min_size=0, max_size=3, unique=True))
    budgets = {
        name: BudgetLimit(
            name,
            draw(money),
            draw(st.none() | money),
            draw(st.sampled_from(list(OnDecrease))),
        )
        for name in names
    }
    count = draw(st.integers(0, 9))
    candidates = [
        Candidate(
            uid=f"e{i}",
            budgets=frozenset(draw(st.lists(st.sampled_from(names), unique=True)) if names else []),
            hourly=draw(st.none() | money),
            activity=draw(st.sampled_from(list(Activity))),
            since=T0 + timedelta(minutes=draw(st.integers(0, 5))),
            current=draw(st.none() | money),
            replacing=draw(st.booleans()),
            asked=draw(st.none() | st.integers(0, 5).map(lambda m: T0 + timedelta(minutes=m))),
        )
        for i in range(count)
    ]
    return candidates, budgets


PROPERTY = settings(max_examples=400, deadline=None)


def cost(c: Candidate, budget: BudgetLimit) -> Decimal:
    return counted_cost(c, budget) or Decimal(0)


def spend(group: Iterable[Candidate], budget: BudgetLimit) -> Decimal:
    return sum((cost(c, budget) for c in group if budget.policy in c.budgets), Decimal(0))


def carried_out(c: Candidate, d: BudgetDecision) -> Candidate:
    """`c` once the decision is carried out: a start creates, an update is sent."""
    if c.uid in d.start:
        return replace(c, activity=U if c.runs else C)
    return c


def fits(c: Candidate, others: list[Candidate], budgets: Mapping[str, BudgetLimit]) -> bool:
    """`c` may start (be created, or send its update) on top of `others` (and, for an update,
    the fleet it runs now)."""
    base = [*others, c] if c.runs else others
    return all(
        added_cost(c, budgets[n]) is not None
        and spend(base, budgets[n]) + (added_cost(c, budgets[n]) or 0) <= budgets[n].usd_per_hour
        for n in c.budgets
    )


def key(c: Candidate) -> tuple[datetime, str]:
    return (c.asked or c.since, c.uid) if c.update_waits else (c.since, c.uid)


def check_partition(cands: list[Candidate], d: BudgetDecision) -> None:
    runners = {c.uid for c in cands if c.runs}
    pending = {c.uid for c in cands if c.pending and c.uid not in d.park}
    assert d.start <= pending and set(d.park) <= runners
    assert d.run == (runners - set(d.park)) | d.start
    assert set(d.wait) == pending - d.start


@PROPERTY
@given(scenarios())
def test_the_running_total_never_exceeds_a_budget(scenario: tuple) -> None:
    cands, budgets = scenario
    d = decide(cands, budgets)
    check_partition(cands, d)
    running = [carried_out(c, d) for c in cands if c.uid in d.run]
    for name, budget in budgets.items():
        total = spend(running, budget)
        assert d.spend[name] == total
        started_here = any(c.uid in d.start and name in c.budgets for c in cands)
        if budget.on_decrease == PARK or started_here:
            assert total <= budget.usd_per_hour, name
        else:
            # A Queue budget lowered below what already runs: nothing started under it,
            # and what runs is only what ran before (never parked for it).
            kept = [c for c in cands if c.runs and c.uid in d.run]
            assert total == spend(kept, budget)
    # Queue budgets never park: a running endpoint under Queue budgets only stays.
    for c in cands:
        if c.runs and all(budgets[n].on_decrease == QUEUE for n in c.budgets):
            assert c.uid in d.run


@PROPERTY
@given(scenarios())
def test_waiting_order_with_backfill(scenario: tuple) -> None:
    cands, budgets = scenario
    d = decide(cands, budgets)
    started = sorted((c for c in cands if c.uid in d.start), key=key)
    for c in cands:
        # What runs besides it, and what started before it (as carried out).
        kept = [k for k in cands if k.runs and k.uid in d.run and k.uid != c.uid]
        before = [carried_out(s, d) for s in started if key(s) < key(c) and s.uid != c.uid]
        before_ids = {b.uid for b in before}
        kept = [k for k in kept if k.uid not in before_ids]
        running = [carried_out(k, d) for k in cands if k.uid in d.run and k.uid != c.uid]
        if c.uid in d.start:
            # It fitted on top of what ran and what started before it.
            assert fits(c, kept + before, budgets)
        elif c.uid in d.wait:
            # It waits only because it did not fit when its turn came (so no endpoint
            # that began to wait later was started in its place unless it did not fit) ...
            assert not fits(c, kept + before, budgets)
            # ... and it does not fit on top of everything that runs now either.
            assert not fits(c, running, budgets)
            blocking = budgets[d.wait[c.uid].budget]
            assert blocking.policy in c.budgets


@PROPERTY
@given(scenarios(), st.data())
def test_removing_spend_never_parks(scenario: tuple, data: st.DataObject) -> None:
    cands, budgets = scenario
    d = decide(cands, budgets)
    runners = [c for c in cands if c.runs]
    if runners:  # a running endpoint is deleted, or parked for another reason
        gone = data.draw(st.sampled_from(runners))
        after = decide([c for c in cands if c.uid != gone.uid], budgets)
        assert set(after.park) <= set(d.park) - {gone.uid}
    if budgets:  # a budget is raised
        name = data.draw(st.sampled_from(sorted(budgets)))
        raised = {
            **budgets,
            name: replace(
                budgets[name], usd_per_hour=budgets[name].usd_per_hour + data.draw(money)
            ),
        }
        assert set(decide(cands, raised).park) <= set(d.park)

    # Once the decision is carried out (started ones run, parked ones wait again),
    # deciding again parks nothing, and neither does removing spend then.
    later = T0 + timedelta(hours=1)
    carried = [
        replace(carried_out(c, d), since=later)
        if c.uid in d.start
        else replace(c, activity=W, since=later)
        if c.uid in d.park
        else c
        for c in cands
    ]
    assert decide(carried, budgets).park == {}
    running = [c for c in carried if c.runs]
    if running:
        gone = data.draw(st.sampled_from(running))
        assert decide([c for c in carried if c.uid != gone.uid], budgets).park == {}


@PROPERTY
@given(scenarios(), st.randoms(use_true_random=False))
def test_the_decision_is_deterministic(scenario: tuple, rng: random.Random) -> None:
    cands, budgets = scenario
    shuffled = list(cands)
    rng.shuffle(shuffled)
    assert decide(shuffled, budgets) == decide(cands, budgets)
