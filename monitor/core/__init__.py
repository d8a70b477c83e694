"""The pure per-account core: ingest → engine → alert policy, driven by lines and `now`.

PURE like `engine/`: no IO, no clock, no asyncio (`tests/engine/test_purity.py`, `.importlinter`).
`account_core` (`AccountCore`: the pipeline, its 1 s clock, its queries), `step` (`Step`,
`TimedAlert`: what a call returns), `ingest` (`Replay`: lines → decoders → book), `figures`
(the heavy figures of an alert), `health` (the feed's typed health and resync reasons).
"""
