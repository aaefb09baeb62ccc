"""The validation gate: every live message is checked once; invalid ones are set aside.

The log keeps every message as it came. The gate reads the live streams and,
for each message that is not a valid event, publishes a ``Quarantined`` record
(reason, detail, the message's stream and sequence, its raw bytes) to the
quarantine stream, where projections (the ``rejected`` view) and operators
(``prestacop rejected``) see it. Nothing is dropped; nothing crashes a consumer.
"""
