"""The chaos run, long form (``make bench``): 200 objects, 20% throttling on SageMaker,
CloudWatch and API Gateway, two operator SIGKILLs, one kube-apiserver restart and a 60 s AWS
outage (``tests/chaos``). Prints the table and writes ``.bench/chaos-long-*.json|csv``; the
zeros are asserted like in the short form, convergence is only reported."""

from __future__ import annotations

import pytest

from sagemeter_sandbox import Sandbox

from ..chaos.driver import ChaosPlan, ChaosRun
from ..chaos.report import print_table, save
from ..integration.conftest import Operator

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(3600)]


def test_long_chaos_run(sandbox: Sandbox, operator: Operator, namespace: str) -> None:
    plan = ChaosPlan(
        objects=200,
        throttle_rate=0.2,
        kills=2,
        apiserver_restarts=1,
        outage_seconds=60,
        step_timeout=600,
        stuck_after=300,
        label="chaos-long",
    )
    rows, details = ChaosRun(plan, sandbox, operator, namespace).run()
    print_table("chaos (long)", rows)
    save(plan.label, rows, details)
    zeros = {row.metric: row.value for row in rows if row.expected == "0" and row.value != 0}
    assert not zeros, zeros
