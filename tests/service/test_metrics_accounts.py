"""The metrics' account cap (issue 19, item 8): a fleet keeps one series per account."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from monitor.service.metrics import OTHER, Metrics


def _risk_accounts(metrics: Metrics) -> set[str]:
    body, _ = metrics.exposition(None)
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    return {sample.labels["account"] for sample in families["marginwatch_risk_ratio"].samples}


def test_a_fleet_of_accounts_is_not_folded_into_other() -> None:
    metrics = Metrics()
    names = [f"acct-{i:03d}" for i in range(300)]  # 64 used to be the cap
    for name in names:
        metrics.observe_figures(name, "usdm", 0.5, 0.5, None, 1000.0, 500.0)
    assert _risk_accounts(metrics) == set(names)


def test_the_account_cap_is_configurable() -> None:
    metrics = Metrics(max_accounts=3)
    for i in range(5):
        metrics.observe_figures(f"a{i}", "usdm", 0.5, 0.5, None, 1000.0, 500.0)
    assert _risk_accounts(metrics) == {"a0", "a1", "a2", OTHER}
