"""What one reconcile pass works with: the object, its AWS region, a thread pool.

boto3 and the kubernetes client are synchronous; `Workers.run` runs their calls
in a thread pool so a slow call never holds up the operator's event loop.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, Protocol, TypeVar

from sagemeter.api.models import ManagedEndpoint, ManagedEndpointSpec, ManagedEndpointStatus
from sagemeter.aws.sagemaker import EndpointDescription, SageMakerGateway
from sagemeter.core.plan import EndpointView
from sagemeter.core.requests import Owner

T = TypeVar("T")


class EventSink(Protocol):
    def __call__(self, body: Mapping[str, Any], type_: str, reason: str, message: str) -> None: ...


class Degraded(Exception):
    """A problem only the operator can see; reported, retried at the sync interval."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass
class Context:
    body: Mapping[str, Any]
    namespace: str
    name: str
    uid: str
    generation: int
    created: datetime
    obj: ManagedEndpoint
    owner: Owner
    region: str
    endpoint_name: str
    gateway: SageMakerGateway

    @property
    def spec(self) -> ManagedEndpointSpec:
        return self.obj.spec

    @property
    def status(self) -> ManagedEndpointStatus:
        return self.obj.status


class Workers:
    def __init__(self, threads: int = 32) -> None:
        self._executor = ThreadPoolExecutor(threads, thread_name_prefix="aws")

    async def run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        # The caller's context (which object this is for) goes along into the thread.
        context = contextvars.copy_context()
        call = partial(context.run, fn, *args, **kwargs)
        return await loop.run_in_executor(self._executor, call)


def endpoint_view(endpoint: EndpointDescription | None) -> EndpointView | None:
    """The parts of a described endpoint the pure plan reads."""
    if endpoint is None:
        return None
    return EndpointView(endpoint.status, endpoint.config_name, endpoint.failure_reason)
