"""Who may publish where: NATS permissions per role, enforced by the server itself."""
