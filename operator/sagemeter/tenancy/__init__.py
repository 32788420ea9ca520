"""Tenancy in the running operator: EndpointPolicies and namespaces as they are now, the
admission bindings kept per policy, who acts as which role, and who runs within a budget."""
