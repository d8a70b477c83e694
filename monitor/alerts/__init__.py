"""Alerts: the pure policy, message rendering, the durable outbox and delivery through Apprise."""
