"""Infrastructure: NATS JetStream (log, images) and PostgreSQL."""
