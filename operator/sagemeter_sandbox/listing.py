"""ListModels as SageMaker serves it: moto 5.2.5 ignores ``NameContains``, ``MaxResults`` and
``NextToken`` there and answers every model in the region in one page.

That made each caller's narrow listing (a namespace's or an endpoint's models) cost as much as
the whole region, so a benchmark with 1,000 objects measured moto's quadratic answer instead
of the operator. Here, as in SageMaker: ``NameContains`` filters, ``SortBy`` is
``CreationTime`` (default) or ``Name``, ``SortOrder`` ``Descending`` (default) or
``Ascending``, pages hold ``MaxResults`` (default 10, at most 100) and ``NextToken`` continues.
``response_patches()`` wires it into moto's ``SageMakerResponse``.
"""

from __future__ import annotations

from typing import Any

from moto.core.responses import ActionResult
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.responses import SageMakerResponse

__all__ = ["list_models", "response_patches"]


def list_models(self: SageMakerResponse) -> ActionResult:
    contains = self._get_param("NameContains") or ""
    by_name = self._get_param("SortBy") == "Name"
    descending = (self._get_param("SortOrder") or "Descending") == "Descending"
    size = int(self._get_param("MaxResults") or 10)
    if not 1 <= size <= 100:
        raise ValidationError("MaxResults must be between 1 and 100.")
    token = self._get_param("NextToken") or "0"
    if not token.isdigit():
        raise ValidationError("Invalid pagination token.")
    models = sorted(
        (m for m in self.sagemaker_backend.list_models() if contains in m.model_name),
        key=lambda m: m.model_name if by_name else (m.creation_time, m.model_name),
        reverse=descending,
    )
    start = int(token)
    page: dict[str, Any] = {"Models": [m.response_object for m in models[start : start + size]]}
    if start + size < len(models):
        page["NextToken"] = str(start + size)
    return ActionResult(page)


def response_patches() -> list[tuple[type, str, Any]]:
    return [(SageMakerResponse, "list_models", list_models)]
