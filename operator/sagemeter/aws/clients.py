"""boto3 clients: one per (service, region, identity), shared by every thread of the process.

Owns client creation and its configuration. The operator's own identity comes from the standard
chain (IRSA, Pod Identity, environment, profile) and ``AWS_ENDPOINT_URL`` points every client at
a local AWS; boto3 reads both itself. An ``Identity`` (a role an EndpointPolicy names, assumed
for one namespace) gets its own session whose credentials ``aws.credentials`` assumes and
refreshes. Each client reports to ``aws.calls.CALLS``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config

from sagemeter.aws import audit
from sagemeter.aws.calls import CALLS
from sagemeter.aws.credentials import Identity, assumed_role_session

__all__ = ["CLIENT_CONFIG", "CLIENT_HOOKS", "Identity", "client", "reset_clients"]

# Standard mode retries throttling, 5xx and connection errors with backoff inside one call (at
# most 3 HTTP attempts). What still fails goes back to the reconciler as a classified AwsError
# and is requeued there.
CLIENT_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 3},
    connect_timeout=5,
    read_timeout=30,
    # As many connections as worker threads (runtime.workers): a smaller pool makes threads
    # open and close connections for every call under load.
    max_pool_connections=48,
)

# Called with every new client, after the call counter and the audit log are attached.
CLIENT_HOOKS: list[Callable[[Any], None]] = []

# boto3 Sessions are not thread-safe, clients are: create under the lock, use without it.
_lock = threading.Lock()
_sessions: dict[Identity | None, boto3.Session] = {}
_clients: dict[tuple[str, str, Identity | None], Any] = {}
# How long assumed-role credentials last (an assumed role chained from IRSA or Pod Identity
# lasts at most one hour); configurable for tests of expiry.
_duration = {"seconds": 3600}


def client(service: str, region: str, identity: Identity | None = None) -> Any:
    """The shared boto3 client for ``service`` in ``region``, as ``identity`` (None: the
    operator's own)."""
    key = (service, region, identity)
    found = _clients.get(key)
    if found is not None:
        return found
    with _lock:
        found = _clients.get(key)
        if found is None:
            found = _session(identity).client(service, region_name=region, config=CLIENT_CONFIG)
            CALLS.attach(found)
            audit.attach(found)
            for hook in CLIENT_HOOKS:
                hook(found)
            _clients[key] = found
        return found


def _session(identity: Identity | None) -> boto3.Session:
    """Called with the lock held."""
    if identity not in _sessions:
        if identity is None:
            _sessions[None] = boto3.Session()
        else:
            sts = _clients.get(("sts", identity.sts_region, None))
            if sts is None:
                sts = _session(None).client(
                    "sts", region_name=identity.sts_region, config=CLIENT_CONFIG
                )
                CALLS.attach(sts)
                _clients[("sts", identity.sts_region, None)] = sts
            _sessions[identity] = assumed_role_session(sts, identity, _duration["seconds"])
    return _sessions[identity]


def set_assumed_role_seconds(seconds: int) -> None:
    """How long assumed-role credentials are asked for (STS allows 900 to 43200; an assumed
    role chained from another role lasts at most 3600)."""
    _duration["seconds"] = seconds


def reset_clients() -> None:
    """Forgets every client and session, so the next ones see a changed environment."""
    with _lock:
        _clients.clear()
        _sessions.clear()
