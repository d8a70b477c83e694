"""Pure shared utilities at the bottom of the layers: every layer may import them, they import
nothing of ours (the `.importlinter` contract "monitor.base imports nothing of ours").

- `clock`: `wall_ms`, the one wall-clock reading in milliseconds.
- `backoff`: retry delays (the jittered reconnect `Backoff`, the per-failure `FailureBackoff`).
- `rate_limit`: `TokenBucket`, sends spaced to a rate.
- `net`: `check_address`, a configured local IP address checked.
- `secrets`: the mask, the secret registry and text/URL redaction.
- `settings`: how a field of a pure settings dataclass is offered in the configuration.
"""
