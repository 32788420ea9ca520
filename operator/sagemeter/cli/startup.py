"""What `sagemeter run` checks before it starts the operator: crash-only start-up.

A setting the operator cannot honour (a bad value, a metrics or probe port in use, no AWS
credentials, the ManagedEndpoint CRD missing) ends the process at once with one clear line
and a non-zero exit (SPEC §3), instead of a live process that reconciles nothing. Each check
raises ``StartupError`` with that line.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import ValidationError

from sagemeter.api.models import GROUP, PLURAL
from sagemeter.aws.clients import has_credentials
from sagemeter.runtime import metrics, probes
from sagemeter.runtime.apiserver import ApiClient, ApiError
from sagemeter.runtime.settings import Settings

__all__ = ["StartupError", "check_startup", "ensure_peering"]

CRD_NAME = f"{PLURAL}.{GROUP}"
CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
# How long start-up waits out answers that say "not now": 429 (the apiserver answers it, with
# Retry-After, for a custom resource whose CRD was created a moment ago, as after
# `kubectl apply -k` and the pod starting at once) and 5xx. Anything else fails at once.
PATIENCE_SECONDS = 30.0


T = TypeVar("T")


class StartupError(Exception):
    """The operator cannot start; the message is the one line it says why."""


def patiently(call: Callable[[], T], patience: float = PATIENCE_SECONDS) -> T:
    """``call()``, tried again every second while the apiserver answers 429 or 5xx, for up to
    ``patience`` seconds; then its last ``ApiError``."""
    deadline = time.monotonic() + patience
    while True:
        try:
            return call()
        except ApiError as error:
            transient = error.status == 429 or error.status >= 500
            if not transient or time.monotonic() >= deadline:
                raise
        time.sleep(1.0)


def parse_settings(overrides: dict[str, Any]) -> Settings:
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as error:
        raise StartupError("; ".join(map(setting_problem, error.errors()))) from None


def setting_problem(error: Any) -> str:
    """One refused setting in words: its flag and variable, the value, what it accepts."""
    name = "_".join(str(part) for part in error["loc"])
    where = f"--{name.replace('_', '-')} (SAGEMETER_{name.upper()})"
    kind, message = error["type"], str(error["msg"])
    if kind == "value_error":  # the validator's own words name the value and the form
        return f"bad setting {where}: {message.removeprefix('Value error, ')}"
    accepts = {
        "bool_parsing": "must be true or false",
        "literal_error": f"must be {error.get('ctx', {}).get('expected', '')}",
    }.get(kind, message.replace("Input should be", "must be"))
    return f"bad setting {where}: {error.get('input')!r} {accepts}"


def check_credentials() -> None:
    if not has_credentials():
        raise StartupError(
            "no AWS credentials: give the pod a role (IRSA or EKS Pod Identity) or set the"
            " standard AWS_* variables"
        )


def serve_metrics(port: int) -> None:
    try:
        metrics.serve(port)
    except OSError as error:
        raise StartupError(f"cannot serve metrics on port {port}: {error.strerror}") from None


def serve_probes(url: str) -> None:
    """The liveness and readiness probes (``runtime.probes``), bound now."""
    try:
        probes.serve(url)
    except ValueError as error:
        raise StartupError(f"bad --liveness: {error}") from None
    except OSError as error:
        raise StartupError(f"cannot serve probes on {url}: {error.strerror}") from None


def check_crd(api: ApiClient) -> None:
    try:
        found = patiently(
            lambda: api.request("GET", CRDS, query={"fieldSelector": f"metadata.name={CRD_NAME}"})
        )
    except ApiError as error:
        if not error.status:  # no answer: unreachable, refused, timed out
            raise StartupError(f"cannot reach the Kubernetes API: {error}") from None
        raise StartupError(
            f"cannot read CustomResourceDefinitions: {error.status} {error.reason}"
        ) from None
    except Exception as error:  # no kubeconfig, no service account
        raise StartupError(f"cannot reach the Kubernetes API: {error}") from None
    if not found.get("items"):
        raise StartupError(
            f"the CustomResourceDefinition {CRD_NAME} is not installed (kubectl apply"
            " --server-side -f crds/, or install the Helm chart)"
        )


KUBE_SYSTEM = "/api/v1/namespaces/kube-system"


def cluster_id(api: ApiClient, settings: Settings) -> Settings:
    """The settings with `cluster_id` known: the configured one, else the kube-system
    namespace's uid (stable for the cluster's life; SPEC §5 "Orphans and Retain")."""
    if settings.cluster_id:
        return settings
    try:
        uid = patiently(lambda: api.request("GET", KUBE_SYSTEM))["metadata"]["uid"]
    except ApiError as error:
        raise StartupError(
            f"cannot read the kube-system namespace for the cluster id: {error.status}"
            f" {error.reason}; set SAGEMETER_CLUSTER_ID (--cluster-id) or grant get on"
            " namespaces"
        ) from None
    return settings.model_copy(update={"cluster_id": str(uid)})


def check_startup(
    overrides: dict[str, Any],
    peering: str | None = None,
    namespaces: list[str] | None = None,
    liveness: str | None = None,
) -> Settings:
    """Every check, cheapest first, and the peering object; the settings to run with."""
    settings = parse_settings(overrides)
    check_credentials()
    api = ApiClient()
    check_crd(api)
    settings = cluster_id(api, settings)
    if peering is not None:
        ensure_peering(api, peering, namespaces or [])
    if settings.metrics_port:
        serve_metrics(settings.metrics_port)
    if liveness:
        serve_probes(liveness)
    return settings


def ensure_peering(api: ApiClient, name: str, namespaces: list[str]) -> None:
    """Creates the kopf peering object replicas meet in (a ClusterKopfPeering, or a KopfPeering
    in each watched namespace) unless it exists, so that no manifest has to apply a CR in the
    same run as its CRD (``kubectl apply -k deploy/base`` converges in one run)."""
    kind, plural = (
        ("KopfPeering", "kopfpeerings")
        if namespaces
        else (
            "ClusterKopfPeering",
            "clusterkopfpeerings",
        )
    )
    body = {"apiVersion": "kopf.dev/v1", "kind": kind, "metadata": {"name": name}}
    selector = {"fieldSelector": f"metadata.name={name}"}
    try:
        targets: list[str | None] = [*namespaces] if namespaces else [None]
        for namespace in targets:
            where = f"/namespaces/{namespace}" if namespace is not None else ""
            path = f"/apis/kopf.dev/v1{where}/{plural}"
            if patiently(functools.partial(api.request, "GET", path, query=selector)).get("items"):
                continue
            try:
                patiently(functools.partial(api.request, "POST", path, body))
            except ApiError as error:
                if error.status != 409:  # another replica made it first
                    raise
    except ApiError as error:
        where = f"{kind} {name}"
        raise StartupError(
            f"cannot find or create the {where}: {error.status} {error.reason}"
        ) from None
