"""marginwatch's performance harness: `python -m benchmarks [--quick] [--json]`.

Every figure is reported next to a baseline measured in the same run, as a ratio: these
machines are noisy, so absolute times are context, ratios are the claim.
"""
