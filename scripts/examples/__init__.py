"""The example-recording generator, one module per margin mode (driven by
`scripts/make_examples.py`): `usdm`, `multi_assets`, `coinm`, `portfolio_margin`, and `common`
(price paths, the line collector, the liquidation-price solver). Payload shapes come from
`monitor.sim.wire`.
"""
