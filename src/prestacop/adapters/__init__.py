"""Infrastructure: NATS JetStream (log, object store) and PostgreSQL."""
