"""The pure margin engine: account state, incremental book, exact reference, liquidation figures.

Nothing in this package performs IO, reads a clock or uses asyncio; it is driven by events.
"""
