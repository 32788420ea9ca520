"""What a namespace may adopt, from its EndpointPolicies and the operator's settings.

    adoption_grant(effective, namespace, adopt_tag, adopt_namespace) -> AdoptionGrant

The grant feeds the one adoption rule, `sagemeter.core.endpoint.ownership.adoption_allowed`
(SPEC §2 "Adopt" and §5 "Adoption" together): the `adoption.endpointNames` lists of the
selecting policies (they intersect; at least one must set one), or the operator's adopt tag
(`SAGEMETER_ADOPT_TAG`), which counts only in the discovery namespace
(`SAGEMETER_ADOPT_NAMESPACE`) and in namespaces no EndpointPolicy selects. Living in a
particular namespace is never a grant on its own: the tag must be on the endpoint.
"""

from __future__ import annotations

from sagemeter.core.endpoint.ownership import AdoptionGrant
from sagemeter.core.tenancy.effective import EffectivePolicy


def adoption_grant(
    effective: EffectivePolicy | None,
    namespace: str,
    adopt_tag: tuple[str, str] | None,
    adopt_namespace: str | None,
) -> AdoptionGrant:
    """`effective` None: tenancy is not in use (no policy can select anything)."""
    governed = effective is not None and effective.governed
    tag_counts = namespace == adopt_namespace or not governed
    lists = tuple(opinion.value for opinion in effective.adoption) if effective else ()
    return AdoptionGrant(tag=adopt_tag if tag_counts else None, name_lists=lists)
