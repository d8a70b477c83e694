"""Pure decoders of Binance payloads: bytes and JSON in, engine state and events out, no IO.

`marks` (the mark-price fast path), `user_events` (user-stream events → engine events and
signals), `snapshot` (REST bodies → `AccountState`, the mode, the paths to fetch),
`rest_merge` (a partial REST answer merged into the full one) and `plausibility` (brackets and
collateral tiers that cannot be right). Nothing here opens a socket, sleeps or reads a clock; the
IO clients beside this package (`binance/rest.py`, `binance/stream.py`, `binance/listen_key.py`)
fetch the bytes, and the import contract `wire-decoders-are-pure` in `.importlinter` keeps it so.
"""
