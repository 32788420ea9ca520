"""What `sagemeter run` checks before it starts the operator: crash-only start-up.

A setting the operator cannot honour (a bad value, a metrics port in use, no AWS credentials,
the ManagedEndpoint CRD missing) ends the process at once with one clear line and a non-zero
exit (SPEC §3), instead of a live process that reconciles nothing. Each check raises
``StartupError`` with that line.
"""

from __future__ import annotations

from typing import Any

import boto3
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from sagemeter.api.models import GROUP, PLURAL
from sagemeter.runtime import metrics
from sagemeter.runtime.kube import load_config
from sagemeter.runtime.settings import Settings

__all__ = ["StartupError", "check_startup", "ensure_peering"]

CRD_NAME = f"{PLURAL}.{GROUP}"


class StartupError(Exception):
    """The operator cannot start; the message is the one line it says why."""


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
    if boto3.Session().get_credentials() is None:
        raise StartupError(
            "no AWS credentials: give the pod a role (IRSA or EKS Pod Identity) or set the"
            " standard AWS_* variables"
        )


def serve_metrics(port: int) -> None:
    try:
        metrics.serve(port)
    except OSError as error:
        raise StartupError(f"cannot serve metrics on port {port}: {error.strerror}") from None


def check_crd() -> None:
    try:
        load_config()
        found = client.ApiextensionsV1Api().list_custom_resource_definition(
            field_selector=f"metadata.name={CRD_NAME}"
        )
    except ApiException as error:
        raise StartupError(
            f"cannot read CustomResourceDefinitions: {error.status} {error.reason}"
        ) from None
    except Exception as error:  # no kubeconfig, no service account, apiserver unreachable
        raise StartupError(f"cannot reach the Kubernetes API: {error}") from None
    if not found.items:
        raise StartupError(
            f"the CustomResourceDefinition {CRD_NAME} is not installed (kubectl apply"
            " --server-side -f crds/, or install the Helm chart)"
        )


def check_startup(
    overrides: dict[str, Any], peering: str | None = None, namespaces: list[str] | None = None
) -> Settings:
    """Every check, cheapest first, and the peering object; the settings to run with."""
    settings = parse_settings(overrides)
    check_credentials()
    check_crd()
    if peering is not None:
        ensure_peering(peering, namespaces or [])
    if settings.metrics_port:
        serve_metrics(settings.metrics_port)
    return settings


def ensure_peering(name: str, namespaces: list[str]) -> None:
    """Creates the kopf peering object replicas meet in (a ClusterKopfPeering, or a KopfPeering
    in each watched namespace) unless it exists, so that no manifest has to apply a CR in the
    same run as its CRD (``kubectl apply -k deploy/base`` converges in one run)."""
    api = client.CustomObjectsApi()
    kind, plural = (
        ("KopfPeering", "kopfpeerings")
        if namespaces
        else (
            "ClusterKopfPeering",
            "clusterkopfpeerings",
        )
    )
    body = {"apiVersion": "kopf.dev/v1", "kind": kind, "metadata": {"name": name}}
    selector = f"metadata.name={name}"
    try:
        targets: list[str | None] = [*namespaces] if namespaces else [None]
        for namespace in targets:
            if namespace is None:
                found = api.list_cluster_custom_object(
                    "kopf.dev", "v1", plural, field_selector=selector
                )
            else:
                found = api.list_namespaced_custom_object(
                    "kopf.dev", "v1", namespace, plural, field_selector=selector
                )
            if found.get("items"):
                continue
            try:
                if namespace is None:
                    api.create_cluster_custom_object("kopf.dev", "v1", plural, body)
                else:
                    api.create_namespaced_custom_object("kopf.dev", "v1", namespace, plural, body)
            except ApiException as error:
                if error.status != 409:  # another replica made it first
                    raise
    except ApiException as error:
        where = f"{kind} {name}"
        raise StartupError(
            f"cannot find or create the {where}: {error.status} {error.reason}"
        ) from None
