"""The STS session an assumed role is given for a namespace (SPEC §5 "Assumed roles").

    session_name(namespace) -> "sm-<namespace>", cut with a hash to STS's limits

STS takes 2 to 64 characters of `[\\w+=,.@-]`; Kubernetes namespace names (DNS labels) already
fit the alphabet, so only the length can need a cut, and then a hash keeps two long namespaces
apart.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

from sagemeter.api.models import GROUP

NAMESPACE_TAG: Final = f"{GROUP}/namespace"
MAX_SESSION_NAME: Final = 64
_NOT_ALLOWED = re.compile(r"[^\w+=,.@-]")


def session_name(namespace: str) -> str:
    name = _NOT_ALLOWED.sub("-", f"sm-{namespace}")
    if len(name) <= MAX_SESSION_NAME:
        return name
    digest = hashlib.sha256(namespace.encode()).hexdigest()[:8]
    return f"{name[: MAX_SESSION_NAME - 9]}-{digest}"
