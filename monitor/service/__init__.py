"""The daemon's wiring: per-account pipelines from feed to engine to alert policy to outbox."""
