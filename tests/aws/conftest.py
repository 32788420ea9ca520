"""Gateway tests run against a moto server in this process.

The server is the sandbox's local AWS (``sagemeter_sandbox.localaws``: endpoint lifecycle,
UpdateEndpoint, SageMaker's error texts) with transitions shortened to ``DELAY`` seconds.
``aws_env`` points boto3 at it for one test, with dummy credentials and fresh moto state.
"""

from __future__ import annotations

import logging
import os
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest

from sagemeter.aws import audit, clients
from sagemeter.aws.backoff import BACKOFFS
from sagemeter.aws.calls import CALLS
from sagemeter.aws.errors import AwsError
from sagemeter.aws.quotas import PACER
from sagemeter.core.routes import RouteSpec
from sagemeter.routes.manager import RouteManager, RouteResult, RouteSite
from sagemeter_sandbox import localaws, quotas
from sagemeter_sandbox.control import FaultClient

DELAY = 0.3
REGION = "us-east-1"


def reset_clients() -> None:
    """Forgets the operator's shared clients and sessions (``aws.clients`` keeps them for the
    process's life), and the tests' own, so the next ones see this test's environment."""
    with clients._lock:
        clients._clients.clear()
        clients._sessions.clear()
        clients._shared.clear()
    _full_clients.clear()


_full_loader: dict[str, Any] = {}
_full_clients: dict[tuple[str, str], Any] = {}


def client(service: str, region: str) -> Any:
    """A client with botocore's whole model of ``service``, for a test's own setup and checks,
    counted and audited as the operator's are. The operator's clients know only the operations
    the package calls (``aws/models``), so a test that creates, reads or drives what the
    operator never calls uses this one."""
    key = (service, region)
    if key not in _full_clients:
        import botocore.config
        import botocore.loaders
        import botocore.session

        if not _full_loader:
            _full_loader["loader"] = botocore.loaders.create_loader()
        session = botocore.session.Session()
        session.register_component("data_loader", _full_loader["loader"])
        made = session.create_client(
            service, region_name=region, config=botocore.config.Config(**clients.CLIENT_OPTIONS)
        )
        CALLS.attach(made)
        audit.attach(made)
        _full_clients[key] = made
    return _full_clients[key]


@dataclass(frozen=True)
class LocalAws:
    url: str

    def reset(self) -> None:
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200


@pytest.fixture(scope="session")
def local_aws() -> Iterator[LocalAws]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    localaws.install(localaws.Delays(create=DELAY, update=DELAY, delete=DELAY))
    # The sandbox's raised quotas; a test of a quota sets its own (control API).
    quotas.configure(quotas.SANDBOX_QUOTAS)
    server = localaws.start_in_thread("127.0.0.1", 0)
    try:
        yield LocalAws(f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
        server.server_close()
        localaws.install(localaws.Delays.from_env(os.environ))
        quotas.configure(None)


# How long a transition lasts that a test reads right after the call which began it, and then
# waits out: DELAY is shorter than a loaded machine may take between two requests.
SEEN = 3.0


@contextmanager
def slow_transitions(seconds: float = 60.0) -> Iterator[None]:
    """Transitions begun inside take ``seconds``: a test that reads the status a call leaves
    behind sees it however long the machine takes between the call and the read (``SEEN`` when
    the test then waits the transition out)."""
    localaws.install(localaws.Delays(create=seconds, update=seconds, delete=seconds))
    try:
        yield
    finally:
        localaws.install(localaws.Delays(create=DELAY, update=DELAY, delete=DELAY))


@pytest.fixture
def aws_env(local_aws: LocalAws, monkeypatch: pytest.MonkeyPatch) -> Iterator[LocalAws]:
    """boto3 aimed at the local AWS for this test: clean state, clean clients, zero counts."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", local_aws.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    local_aws.reset()
    reset_clients()
    CALLS.reset()
    BACKOFFS.reset()  # an account's backoff from another test must not hold this one
    PACER.reset()  # nor its quota slots (moto's reset forgets the local AWS's side)
    try:
        yield local_aws
    finally:
        reset_clients()  # later tests must not reuse clients aimed at this server


def site(**changes: object) -> RouteSite:
    """Where the tests' routes live: the operator's own account and region, with the invoke
    role of ``dataplane_calls``; Lambda functions of the sandbox's account are allowed."""
    from .dataplane_calls import ROLE

    values: dict[str, object] = {
        "region": REGION,
        "invoke_role": ROLE,
        "lambda_globs": (f"arn:aws:lambda:{REGION}:123456789012:function:*",),
    }
    values.update(changes)
    return RouteSite(**values)  # type: ignore[arg-type]


def ensure_deployed(
    manager: RouteManager, route: RouteSpec, where: RouteSite | None = None, **kwargs: object
) -> RouteResult:
    """Writes the route and deploys it now (a key's usage plan needs the stage first); waits
    for quota slots (a new REST API: one per 3 s per account) as a pass would."""
    where = where or site()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            result = manager.ensure(route, where, **kwargs)  # type: ignore[arg-type]
        except AwsError as error:
            if error.code != "Paced":
                raise
            time.sleep(0.5)
            continue
        if result.deployed:
            return result
        flush(manager)
    raise AssertionError(f"{route.path} not deployed in 30 s")


def flush(manager: RouteManager) -> None:
    """Deploys what changed now, waiting as a pass would when the account's deployment slot
    is taken (another manager's background deployment in the same account holds it)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            manager.flush()
            return
        except AwsError as error:
            if error.code != "Paced" or time.monotonic() > deadline:
                raise
            time.sleep(0.5)


@pytest.fixture
def manager() -> Iterator[RouteManager]:
    """Routes of the test's objects, deployed at once (the data plane serves deployed routes)."""
    from sagemeter.runtime.settings import Settings

    from .dataplane_calls import ROLE

    routes = RouteManager(
        Settings(region=REGION, api_invoke_role_arn=ROLE, api_stage="prod"),
        quiet_seconds=0.05,
        max_delay_seconds=1.0,
    )
    yield routes
    routes.close()


@pytest.fixture
def control(local_aws: LocalAws) -> Iterator[FaultClient]:
    """The local AWS's control API, with no faults, recorded events or logged requests left
    from an earlier test, and no faults left for a later one."""
    client = FaultClient(local_aws.url)
    client.clear()
    client.clear_events()
    client.clear_requests()
    yield client
    client.clear()
