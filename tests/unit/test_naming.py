"""SageMaker names: always valid, deterministic, and different for different objects or specs."""

from __future__ import annotations

import json
import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sagemeter.api.models import SAGEMAKER_NAME_PATTERN
from sagemeter.core.endpoint.naming import (
    MAX_NAME,
    alarm_name,
    default_endpoint_name,
    endpoint_config_name,
    is_valid_name,
    model_name,
    short_hash,
)

PROPERTY = settings(max_examples=60, deadline=None)
SAGEMAKER_NAME = re.compile(SAGEMAKER_NAME_PATTERN)

# Kubernetes object names are DNS-1123 subdomains (<= 253), namespaces DNS-1123 labels (<= 63).
_LABEL_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789"
_label = st.builds(
    lambda first, middle, last: first + middle + last if middle or last else first,
    st.sampled_from(_LABEL_CHARS),
    st.text(alphabet=_LABEL_CHARS + "-", max_size=61),
    st.sampled_from(["", *_LABEL_CHARS]),
).filter(lambda label: not label.endswith("-"))
namespaces = _label
object_names = (
    st.lists(_label, min_size=1, max_size=6).map(".".join).filter(lambda name: len(name) <= 253)
)


def assert_sagemaker_valid(name: str) -> None:
    assert len(name) <= MAX_NAME, name
    assert SAGEMAKER_NAME.fullmatch(name), name
    assert is_valid_name(name)


# -- default endpoint names -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("namespace", "name", "readable"),
    [
        ("team-a", "falcon", "team-a-falcon"),
        ("default", "llm.v2", "default-llm-v2"),
        ("ns", "a..b", "ns-a-b"),
    ],
)
def test_default_names_read_as_namespace_and_name(namespace: str, name: str, readable: str) -> None:
    # Readable part first, then a short hash of the object's identity.
    assert re.fullmatch(rf"{readable}-[0-9a-f]{{6}}", default_endpoint_name(namespace, name))


def test_long_default_names_keep_a_readable_prefix() -> None:
    name = default_endpoint_name("team-a", "falcon-" + "x" * 200)
    assert len(name) == MAX_NAME
    assert name.startswith("team-a-falcon-xxx")


@PROPERTY
@given(namespaces, object_names)
@example("a" * 63, "b" * 253)
@example("a" * 63, ".".join(["c" * 63] * 3) + ".ddd")
@example("x", "0")
def test_default_names_are_valid_and_deterministic(namespace: str, name: str) -> None:
    endpoint = default_endpoint_name(namespace, name)
    assert_sagemaker_valid(endpoint)
    assert default_endpoint_name(namespace, name) == endpoint


@PROPERTY
@given(namespaces, st.text(alphabet=_LABEL_CHARS, min_size=60, max_size=60), st.data())
def test_long_names_sharing_a_prefix_still_differ(
    namespace: str, prefix: str, data: st.DataObject
) -> None:
    suffixes = data.draw(
        st.lists(
            st.text(alphabet=_LABEL_CHARS, min_size=1, max_size=150),
            min_size=2,
            max_size=2,
            unique=True,
        )
    )
    first, second = (default_endpoint_name(namespace, prefix + s) for s in suffixes)
    assert first != second
    assert_sagemaker_valid(first)
    assert_sagemaker_valid(second)


def test_names_are_stable_across_processes() -> None:
    # Pinned values: a name must not depend on per-process state (hash seeds, dict order),
    # or a restarted operator would not find what it created before.
    assert default_endpoint_name("team-a", "falcon") == "team-a-falcon-1f1380"
    assert default_endpoint_name("team-a", "m" * 100) == "team-a-" + "m" * 49 + "-9c94bf"
    assert model_name("falcon", {"b": [1, 2], "a": 1}) == "falcon-m-8baa7319"


def test_namespaces_sharing_a_long_prefix_give_different_names() -> None:
    base = "n" * 62
    assert default_endpoint_name(base + "1", "x" * 10) != default_endpoint_name(
        base + "2", "x" * 10
    )


@pytest.mark.parametrize(
    ("first", "second"),
    [
        # The namespace/name boundary is lost when both may contain '-'.
        (("team-a", "falcon"), ("team", "a-falcon")),
        # '.' (allowed in object names) and '-' must not map to the same name.
        (("ns", "llm.v2"), ("ns", "llm-v2")),
        # Same ambiguity once the names are long enough to be cut and hashed.
        (("team-a", "m" * 100), ("team", "a-" + "m" * 100)),
    ],
)
def test_different_objects_get_different_default_names(
    first: tuple[str, str], second: tuple[str, str]
) -> None:
    # Two objects mapping to one SageMaker endpoint means one of them is locked out
    # (EndpointNameConflict) through no fault of its own.
    assert default_endpoint_name(*first) != default_endpoint_name(*second)


@PROPERTY
@given(namespaces, object_names, namespaces, object_names)
@example("team-a", "x", "team", "a-x")
def test_default_names_are_injective(
    namespace_a: str, name_a: str, namespace_b: str, name_b: str
) -> None:
    if (namespace_a, name_a) != (namespace_b, name_b):
        assert default_endpoint_name(namespace_a, name_a) != default_endpoint_name(
            namespace_b, name_b
        )


# -- model and config names -----------------------------------------------------------------

_ALNUM = _LABEL_CHARS + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
# Valid SageMaker names: alphanumeric runs joined by runs of hyphens, at most 63 characters.
endpoint_names = st.lists(
    st.tuples(st.integers(0, 3), st.text(alphabet=_ALNUM, min_size=1, max_size=20)),
    min_size=1,
    max_size=6,
).map(
    lambda runs: (
        "".join("-" * dashes + run for dashes, run in runs).lstrip("-")[:MAX_NAME].rstrip("-")
    )
)
parts = st.dictionaries(
    st.text(alphabet="abcdefXYZ_", min_size=1, max_size=8),
    st.one_of(st.integers(), st.text(max_size=20), st.booleans(), st.none()),
    max_size=5,
)


@PROPERTY
@given(endpoint_names, parts)
@example("e" * 63, {"image": "x"})
@example("a" + "-" * 61 + "b", {})
def test_model_and_config_names_are_valid(endpoint: str, spec_parts: dict[str, object]) -> None:
    model = model_name(endpoint, spec_parts)
    config = endpoint_config_name(endpoint, spec_parts)
    assert_sagemaker_valid(model)
    assert_sagemaker_valid(config)
    assert model != config
    assert model == model_name(endpoint, spec_parts)
    assert config == endpoint_config_name(endpoint, spec_parts)


def test_model_and_config_names_start_with_a_short_endpoint_name() -> None:
    assert model_name("falcon", {"a": 1}).startswith("falcon-m-")
    assert endpoint_config_name("falcon", {"a": 1}).startswith("falcon-c-")


def _request(value: object) -> str:
    """What SageMaker would be sent for these parts: their JSON, key order aside."""
    return json.dumps(value, sort_keys=True)


# Batches of parts, with some of them repeated with their keys in another order.
batches = st.lists(parts, min_size=1, max_size=12).flatmap(
    lambda batch: st.lists(st.sampled_from(batch), max_size=4).map(
        lambda again: batch + [dict(reversed(p.items())) for p in again]
    )
)


@PROPERTY
@given(endpoint_names, batches)
@example("ep", [{"a": None}, {}])  # an explicit null is another request
@example("ep", [{"a": 1}, {"a": "1"}])  # a number and its text
@example("ep", [{"a": True}, {"a": 1}])  # equal in Python, not in the request
@example("ep", [{"a": 1, "b": 2}, {"b": 2, "a": 1}])  # the same request
def test_names_are_equal_exactly_when_the_requests_are(
    endpoint: str, batch: list[dict[str, object]]
) -> None:
    for name in (model_name, endpoint_config_name):
        named: dict[str, str] = {}
        for spec_parts in batch:
            # The same request always gets the same name ...
            assert named.setdefault(_request(spec_parts), name(endpoint, spec_parts)) == name(
                endpoint, spec_parts
            )
        # ... and different requests never share one.
        assert len(set(named.values())) == len(named)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"image": "a"}, {"image": "b"}),
        ({"count": 1}, {"count": 2}),
        ({"isolation": False}, {"isolation": True}),
        ({"env": {"K": "1"}}, {"env": {"K": "2"}}),
        ({"role": "r"}, {"role": "r", "extra": None}),
        ({"variants": [1, 2]}, {"variants": [2, 1]}),
    ],
)
def test_names_differ_for_these_parts(first: dict[str, object], second: dict[str, object]) -> None:
    assert model_name("ep", first) != model_name("ep", second)
    assert endpoint_config_name("ep", first) != endpoint_config_name("ep", second)


def test_names_differ_between_endpoints_with_the_same_parts() -> None:
    long_a, long_b = "x" * 60 + "a", "x" * 60 + "b"
    assert model_name(long_a, {}) != model_name(long_b, {})
    assert endpoint_config_name(long_a, {}) != endpoint_config_name(long_b, {})


@PROPERTY
@given(endpoint_names, parts.flatmap(lambda d: st.tuples(st.just(d), st.permutations(list(d)))))
def test_names_ignore_dict_key_order(
    endpoint: str, parts_and_order: tuple[dict[str, object], list[str]]
) -> None:
    spec_parts, order = parts_and_order
    reordered = {key: spec_parts[key] for key in order}
    nested = {"outer": spec_parts, "z": 1}
    nested_reordered = {"z": 1, "outer": reordered}
    assert model_name(endpoint, reordered) == model_name(endpoint, spec_parts)
    assert endpoint_config_name(endpoint, nested_reordered) == endpoint_config_name(
        endpoint, nested
    )


def test_short_hash_is_fixed_length_hex() -> None:
    digest = short_hash({"b": [1, 2], "a": "x"})
    assert re.fullmatch(r"[0-9a-f]{8}", digest)
    assert digest == short_hash({"a": "x", "b": [1, 2]})
    assert len(short_hash("x", length=12)) == 12


def test_alarm_name() -> None:
    assert alarm_name("team-a-falcon") == "sagemeter-team-a-falcon-idle"
