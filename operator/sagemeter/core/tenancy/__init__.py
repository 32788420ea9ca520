"""Tenancy: pure decisions about EndpointPolicies (SPEC §5).

* `selection` — which policies select a namespace (Kubernetes label-selector
  semantics; names OR labelSelector);
* `effective` — the one policy in force when several select a namespace, or a
  PolicyConflict;
* `guardrails` — what an object violates, and the cap on its lifetime;
* `placement` — the account, role and region an object lives in, and whether it
  would move (AccountChanged);
* `verdict` — all of the above for one object, in the order the operator reports it;
* `budget` — who runs and who waits when budgets are tight;
* `admission` — the ValidatingAdmissionPolicyBindings the operator keeps per policy.

No I/O here: the operator observes namespaces, policies and prices, calls these
functions, and carries their answers out.
"""
