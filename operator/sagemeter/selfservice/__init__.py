"""Self-service through the route: the meter's SSM parameter (SPEC §7)."""
