"""Everything that leaves the system: the outbox (at least once, idempotent), its sinks, and the
Chinese message texts (SMS and staff notices) from one template file."""
