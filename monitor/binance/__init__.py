"""The Binance wire layer: schemas, REST snapshot loading, market-frame and user-event decoding.

Pure decoding, no network IO: `schemas` (typed models of every message), `snapshot` (REST
responses → engine `AccountState`), `marks` (the mark-price fast path) and `user_events`
(user-stream events → engine events and service signals).
"""
