"""boto3 clients: one per (service, region), shared by every thread of the process.

Owns client creation and its configuration. Credentials come from the standard chain (IRSA,
Pod Identity, environment, profile) and ``AWS_ENDPOINT_URL`` points every client at a local
AWS; boto3 reads both itself. Each client reports to ``aws.calls.CALLS``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import boto3
from botocore.config import Config

from sagemeter.aws import audit
from sagemeter.aws.calls import CALLS

__all__ = ["CLIENT_CONFIG", "CLIENT_HOOKS", "client", "reset_clients"]

# Standard mode retries throttling, 5xx and connection errors with backoff inside one call (at
# most 3 HTTP attempts). What still fails goes back to the reconciler as a classified AwsError
# and is requeued there.
CLIENT_CONFIG = Config(
    retries={"mode": "standard", "total_max_attempts": 3},
    connect_timeout=5,
    read_timeout=30,
)

# Called with every new client, after the call counter and the audit log are attached.
CLIENT_HOOKS: list[Callable[[Any], None]] = []

# boto3 Sessions are not thread-safe, clients are: create under the lock, use without it.
_lock = threading.Lock()
_session: boto3.Session | None = None
_clients: dict[tuple[str, str], Any] = {}


def client(service: str, region: str) -> Any:
    """The shared boto3 client for ``service`` in ``region`` (e.g. ``"sagemaker"``)."""
    key = (service, region)
    found = _clients.get(key)
    if found is not None:
        return found
    global _session
    with _lock:
        found = _clients.get(key)
        if found is None:
            if _session is None:
                _session = boto3.Session()
            found = _session.client(service, region_name=region, config=CLIENT_CONFIG)
            CALLS.attach(found)
            audit.attach(found)
            for hook in CLIENT_HOOKS:
                hook(found)
            _clients[key] = found
        return found


def reset_clients() -> None:
    """Forgets every client and the session, so the next ones see a changed environment."""
    global _session
    with _lock:
        _clients.clear()
        _session = None
