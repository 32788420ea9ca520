"""Start-up waits out the apiserver's "not now" (429, 5xx) for a while and nothing else:
crash-only, yet not crashing on a CRD created a moment ago."""

from __future__ import annotations

import pytest

from sagemeter.cli.startup import patiently
from sagemeter.runtime.apiserver import ApiError


def answers(*results: object) -> object:
    pending = list(results)

    def call() -> object:
        result = pending.pop(0)
        if isinstance(result, ApiError):
            raise result
        return result

    return call


def test_a_429_then_an_answer() -> None:
    assert patiently(answers(ApiError(429, "TooManyRequests"), {"items": []})) == {"items": []}


@pytest.mark.parametrize("status", [0, 403, 404, 409])
def test_anything_else_fails_at_once(status: int) -> None:
    with pytest.raises(ApiError) as caught:
        patiently(answers(ApiError(status, "no"), {"items": []}))
    assert caught.value.status == status


def test_patience_runs_out() -> None:
    with pytest.raises(ApiError):
        patiently(answers(ApiError(503, "unavailable"), {}), patience=0)
