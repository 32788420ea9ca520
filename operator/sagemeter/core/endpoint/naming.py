"""Deterministic SageMaker names for what sagemeter creates.

A name is a pure function of the object and of the spec parts the resource
depends on, so a retry after a crash finds the resource it created before
instead of making a second one, and a spec change yields a new name (SageMaker
models and endpoint configs are immutable: a change means a new resource).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, Final

MAX_NAME: Final = 63
HASH_LENGTH: Final = 8
NAME_PATTERN: Final = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")

# "<endpoint>-m-<hash>" and "<endpoint>-c-<hash>": the prefix leaves room for both.
_SUFFIX_LENGTH: Final = len("-m-") + HASH_LENGTH
MAX_PREFIX: Final = MAX_NAME - _SUFFIX_LENGTH


def short_hash(value: Any, length: int = HASH_LENGTH) -> str:
    """A stable hex digest of any JSON-able value (key order does not matter)."""
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:length]


def _sanitize(text: str) -> str:
    cleaned = re.sub(r"[^a-zA-Z0-9-]+", "-", text).strip("-")
    return re.sub(r"-{2,}", "-", cleaned) or "endpoint"


def _fit(text: str, limit: int) -> str:
    """Cut `text` to `limit`, keeping it unique with a hash of the whole when cut."""
    if len(text) <= limit:
        return text
    digest = short_hash(text)
    return f"{text[: limit - HASH_LENGTH - 1].rstrip('-')}-{digest}"


OBJECT_HASH_LENGTH: Final = 6


def default_endpoint_name(namespace: str, name: str) -> str:
    """`<namespace>-<name>-<hash>`, SageMaker-valid and at most 63 characters.

    The hash of `namespace/name` keeps objects apart that would read alike once
    joined with a dash (`team-a`/`falcon` and `team`/`a-falcon`) or sanitized
    (`llm.v2` and `llm-v2`).
    """
    readable = _sanitize(f"{namespace}-{name}")[: MAX_NAME - OBJECT_HASH_LENGTH - 1].rstrip("-")
    return f"{readable}-{short_hash(f'{namespace}/{name}', OBJECT_HASH_LENGTH)}"


def resource_prefix(endpoint_name: str) -> str:
    """The part of model and config names that says which endpoint they belong to."""
    return _fit(endpoint_name, MAX_PREFIX)


def model_name(endpoint_name: str, model_parts: Any) -> str:
    return f"{resource_prefix(endpoint_name)}-m-{short_hash(model_parts)}"


def endpoint_config_name(endpoint_name: str, config_parts: Any) -> str:
    return f"{resource_prefix(endpoint_name)}-c-{short_hash(config_parts)}"


def alarm_name(endpoint_name: str) -> str:
    return f"sagemeter-{endpoint_name}-idle"


def endpoint_of_alarm(alarm: str) -> str | None:
    """The endpoint an idle alarm watches (`alarm_name` reversed); None for other alarms."""
    if alarm.startswith("sagemeter-") and alarm.endswith("-idle"):
        name = alarm[len("sagemeter-") : -len("-idle")]
        return name if is_valid_name(name) else None
    return None


def is_valid_name(name: str) -> bool:
    return bool(NAME_PATTERN.fullmatch(name))


def is_resource_of(endpoint_name: str, resource_name: str) -> bool:
    """Whether `resource_name` has the shape of a model or config made for `endpoint_name`.

    A shape is not a proof of ownership (another object may use the same endpoint name):
    callers check the resource's owner tags before touching it.
    """
    prefix = re.escape(resource_prefix(endpoint_name))
    return re.fullmatch(rf"{prefix}-[mc]-[0-9a-f]{{{HASH_LENGTH}}}", resource_name) is not None
