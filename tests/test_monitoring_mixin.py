"""The monitoring mixin: deploy/prometheus (alert rules, their unit tests, a scrape config) and
deploy/grafana/marginwatch.json, checked against the metrics the daemon really registers.

`promtool` (Debian package `prometheus`) checks and unit-tests the rules and parses every
dashboard query. Without it these tests fail when `CI=true` (.ci/run installs it) and are
skipped elsewhere. The metric-name checks need no tool: every name in the rules and the
dashboard's PromQL must be a series `monitor.service.metrics.Metrics` exports (counters as
`_total`, histograms as `_bucket`/`_sum`/`_count`), and every label it selects or groups by must
be one of that metric's labels (or `job`/`instance`, added by the scrape).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.service.metrics import Metrics

ROOT = Path(__file__).resolve().parent.parent
PROMETHEUS = ROOT / "deploy" / "prometheus"
ALERTS = PROMETHEUS / "alerts.yml"
ALERTS_TEST = PROMETHEUS / "alerts_test.yml"
SCRAPE_CONFIG = PROMETHEUS / "prometheus.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "marginwatch.json"
TIMEOUT = 60

#: Labels the scrape adds to every series.
TARGET_LABELS = frozenset({"job", "instance"})
#: Series Prometheus itself makes: the scrape's `up` and the rules' `ALERTS`.
BUILTIN = {"up": frozenset(), "ALERTS": None}  # None: any label

#: The alerts the issue asks for, by what they watch.
REQUIRED_ALERTS = {
    "down": "MarginwatchDown",
    "absent": "MarginwatchAbsent",
    "risk at or above a level": "MarginwatchRiskCritical",
    "data stale": "MarginwatchDataStale",
    "outbox backlog": "MarginwatchOutboxBacklog",
    "delivery failing": "MarginwatchDeliveryFailing",
    "reconnect storm": "MarginwatchReconnectStorm",
}


# ---- what the daemon exports --------------------------------------------------------------------


def exported_series() -> dict[str, frozenset[str]]:
    """Every series name `Metrics` exposes → its label names (without job/instance)."""
    metrics = Metrics()
    labels_of = {
        name: frozenset(getattr(collector, "_labelnames", ()))
        for collector, names in metrics.registry._collector_to_names.items()
        for name in names
    }
    out: dict[str, frozenset[str]] = {}
    for family in metrics.registry.collect():
        labels = labels_of.get(family.name, frozenset())
        if family.type == "counter":
            out[f"{family.name}_total"] = labels
            out[f"{family.name}_created"] = labels
        elif family.type == "histogram":
            out[f"{family.name}_bucket"] = labels | {"le"}
            out[f"{family.name}_sum"] = labels
            out[f"{family.name}_count"] = labels
            out[f"{family.name}_created"] = labels
        elif family.type == "summary":
            out[family.name] = labels | {"quantile"}
            out[f"{family.name}_sum"] = labels
            out[f"{family.name}_count"] = labels
        elif family.type == "info":
            out[f"{family.name}_info"] = labels
        else:
            out[family.name] = labels
    assert out, "Metrics registered nothing"
    return out


EXPORTED = exported_series()


# ---- PromQL: the metric names and labels an expression uses -------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<matchers>\{(?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|[^}"'])*\})
  | (?P<range>\[[^\]]*\])
  | (?P<number>0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<space>\s+)
  | (?P<other>.)
    """,
    re.VERBOSE,
)
_STRING = r"""(?:"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)"""
_MATCHER = re.compile(rf"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*({_STRING})\s*,?")
AGGREGATIONS = {
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
    "bottomk", "topk", "quantile", "limitk", "limit_ratio",
}  # fmt: skip
GROUPING = {"by", "without", "on", "ignoring", "group_left", "group_right"}
KEYWORDS = {"and", "or", "unless", "bool", "offset", "atan2", "inf", "nan", "@"}


@dataclass
class Selector:
    metric: str
    labels: set[str] = field(default_factory=set)


@dataclass
class Query:
    selectors: list[Selector] = field(default_factory=list)
    grouping: set[str] = field(default_factory=set)


def parse_query(expr: str) -> Query:
    """The vector selectors (metric name, matched labels) and grouping labels of `expr`.

    A scanner, not a full parser: it knows strings, `{…}` matchers, `[…]` ranges, functions
    (an identifier before `(`), aggregations, grouping clauses and binary keywords; every other
    identifier is a metric name. Selectors without a metric name (`{__name__=…}`) are refused.
    """
    tokens = [(m.lastgroup, m.group()) for m in _TOKEN.finditer(expr) if m.lastgroup != "space"]
    query = Query()
    i = 0
    while i < len(tokens):
        kind, text = tokens[i]
        following = tokens[i + 1] if i + 1 < len(tokens) else (None, "")
        if kind == "matchers":
            raise AssertionError(f"a selector without a metric name in {expr!r}")
        if kind == "ident" and text in GROUPING:
            assert following == ("other", "("), f"{text} without a label list in {expr!r}"
            i += 2
            while tokens[i] != ("other", ")"):
                if tokens[i][0] == "ident":
                    query.grouping.add(tokens[i][1])
                i += 1
        elif kind == "ident" and text == "offset":
            i += 2  # the duration: a number and its unit
            continue
        elif (
            kind == "ident"
            and text.lower() not in KEYWORDS
            and text not in AGGREGATIONS
            and following != ("other", "(")  # not a function call: a metric
        ):
            selector = Selector(text)
            if following[0] == "matchers":
                body = following[1][1:-1]
                found = _MATCHER.findall(body)
                rebuilt = "".join(m.group() for m in _MATCHER.finditer(body))
                assert rebuilt.strip() == body.strip(), f"unparsed matchers {body!r}"
                selector.labels = {name for name, _, _ in found}
                i += 1
            query.selectors.append(selector)
        i += 1
    return query


def unknown_names(expr: str) -> list[str]:
    """What in `expr` the daemon does not export: metric names, and labels no metric has."""
    query = parse_query(expr)
    problems: list[str] = []
    possible: set[str] = set(TARGET_LABELS)
    any_label = False
    for selector in query.selectors:
        if selector.metric in BUILTIN:
            labels = BUILTIN[selector.metric]
        elif selector.metric in EXPORTED:
            labels = EXPORTED[selector.metric]
        else:
            problems.append(f"metric {selector.metric}")
            continue
        if labels is None:
            any_label = True
            continue
        possible |= labels
        for label in selector.labels - labels - TARGET_LABELS:
            problems.append(f"label {label} of {selector.metric}")
    if not any_label:
        problems += [f"grouping label {label}" for label in query.grouping - possible]
    return problems


def test_the_scanner_finds_names_labels_and_mistakes() -> None:
    """The checker itself: it finds what it should and flags what does not exist."""
    query = parse_query(
        "histogram_quantile(0.99, sum by (le, job) (rate(marginwatch_tick_latency_seconds_bucket"
        '{job=~"mw|x}", instance!=""}[5m]))) > 0.01 and on (instance) marginwatch_healthy == 0'
    )
    assert [(s.metric, s.labels) for s in query.selectors] == [
        ("marginwatch_tick_latency_seconds_bucket", {"job", "instance"}),
        ("marginwatch_healthy", set()),
    ]
    assert query.grouping == {"le", "job", "instance"}
    assert unknown_names('sum by (account) (marginwatch_risk_ratio{account="a"})') == []
    assert unknown_names("marginwatch_risk_ration > 0.9") == ["metric marginwatch_risk_ration"]
    assert unknown_names("rate(marginwatch_stream_reconnects[5m])") == [
        "metric marginwatch_stream_reconnects"  # a counter is exported as _total
    ]
    assert unknown_names('marginwatch_outbox_depth{account="a"}') == [
        "label account of marginwatch_outbox_depth"
    ]
    assert unknown_names("sum by (venue) (marginwatch_up)") == ["grouping label venue"]
    assert unknown_names("time() - marginwatch_figures_updated_timestamp_seconds") == []
    assert unknown_names('absent(up{job="marginwatch"})') == []
    with pytest.raises(AssertionError, match="without a metric name"):
        parse_query('{__name__="marginwatch_up"}')


def test_the_exported_names_follow_the_exposition() -> None:
    """Counters are `_total`, the histogram has `_bucket` with `le`: as `/metrics` shows."""
    assert "marginwatch_stream_reconnects_total" in EXPORTED
    assert "marginwatch_stream_reconnects" not in EXPORTED
    assert "le" in EXPORTED["marginwatch_tick_latency_seconds_bucket"]
    assert "account" in EXPORTED["marginwatch_risk_ratio"]
    text = Metrics().render().decode()
    for name in ("marginwatch_build_info", "marginwatch_tick_latency_seconds_bucket"):
        assert re.search(rf"^{name}\{{", text, re.MULTILINE), name


# ---- the alert rules ----------------------------------------------------------------------------


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in load_yaml(ALERTS)["groups"] for rule in group["rules"]]


def test_the_alerts_the_issue_asks_for_exist() -> None:
    names = [rule["alert"] for rule in alert_rules()]
    assert len(names) == len(set(names)), "duplicate alert names"
    missing = {what: name for what, name in REQUIRED_ALERTS.items() if name not in names}
    assert not missing, missing
    for rule in alert_rules():
        assert rule["labels"]["severity"] in {"warning", "critical", "emergency"}, rule["alert"]
        assert {"summary", "description"} <= set(rule["annotations"]), rule["alert"]


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda rule: rule["alert"])
def test_alert_rule_uses_only_exported_metrics(rule: dict[str, Any]) -> None:
    assert unknown_names(rule["expr"]) == [], rule["expr"]


def test_every_alert_is_unit_tested_firing_and_silent() -> None:
    tests = load_yaml(ALERTS_TEST)
    assert tests["rule_files"] == [ALERTS.name]
    firing: set[str] = set()
    silent: set[str] = set()
    for group in tests["tests"]:
        for case in group["alert_rule_test"]:
            (firing if case.get("exp_alerts") else silent).add(case["alertname"])
        for series in group["input_series"]:
            assert unknown_names(series["series"]) == [], series["series"]
    names = {rule["alert"] for rule in alert_rules()}
    assert names - firing == set(), "rules no test makes fire"
    assert names - silent == set(), "rules no test checks stay silent"


def promtool() -> str:
    found = shutil.which("promtool")
    if found is not None:
        return found
    message = "promtool is not installed: apt-get install prometheus (Debian; .ci/run does this)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{message}; CI must run the rule tests")
    pytest.skip(message)


def run_promtool(*args: str | Path) -> str:
    done = subprocess.run(
        [promtool(), *map(str, args)], capture_output=True, text=True, timeout=TIMEOUT
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return output


def test_promtool_checks_the_rules() -> None:
    output = run_promtool("check", "rules", ALERTS)
    assert f"SUCCESS: {len(alert_rules())} rules found" in output


def test_promtool_unit_tests_of_the_rules_pass() -> None:
    assert "SUCCESS" in run_promtool("test", "rules", ALERTS_TEST)


def test_promtool_checks_the_scrape_config() -> None:
    """The example prometheus.yml loads alerts.yml and scrapes the job the rules select."""
    output = run_promtool("check", "config", SCRAPE_CONFIG)
    assert "SUCCESS: 1 rule files found" in output
    (job,) = load_yaml(SCRAPE_CONFIG)["scrape_configs"]
    assert job["job_name"] == "marginwatch"
    assert job["static_configs"][0]["targets"] == ["127.0.0.1:9108"]  # [http] listen's default
    assert all('job="marginwatch"' in r["expr"] for r in alert_rules() if "up{" in r["expr"])


# ---- the Grafana dashboard ----------------------------------------------------------------------


def dashboard() -> dict[str, Any]:
    value: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return value


def panels() -> list[dict[str, Any]]:
    return [p for p in dashboard()["panels"] if p["type"] != "row"]


def variables() -> dict[str, str]:
    """Template variables → a value to put in a query (what Grafana would interpolate)."""
    out = {"__rate_interval": "5m", "__interval": "1m", "__range": "6h"}
    for var in dashboard()["templating"]["list"]:
        out[var["name"]] = var["query"] if var["type"] == "textbox" else ".+"
    return out


def interpolate(expr: str) -> str:
    values = variables()

    def replace(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        assert name in values, f"undefined dashboard variable ${name} in {expr!r}"
        return values[name]

    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", replace, expr)


def dashboard_queries() -> list[tuple[str, str]]:
    """(panel title, query) for every panel target and query variable."""
    out = [(p["title"], t["expr"]) for p in panels() for t in p["targets"]]
    for var in dashboard()["templating"]["list"]:
        if var["type"] == "query":
            out.append((f"${var['name']}", var["definition"]))
    return out


def test_dashboard_queries_use_only_exported_metrics() -> None:
    problems = {}
    for title, expr in dashboard_queries():
        query = interpolate(expr)
        if title.startswith("$"):  # label_values(metric{…}, label)
            match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", query)
            assert match, query
            query = f"sum by ({match.group(2)}) ({match.group(1)})"
        found = unknown_names(query)
        if found:
            problems[title] = (expr, found)
    assert problems == {}


def test_dashboard_shows_what_the_issue_asks_for() -> None:
    """Risk and native figure per account with the level lines, distance to liquidation, data
    age, alerts by state, outbox depth, tick latency."""
    by_title = {p["title"]: " ".join(t["expr"] for t in p["targets"]) for p in panels()}
    wanted = {
        "Risk per account": ["marginwatch_risk_ratio", "$warning", "$critical", "$emergency"],
        "Native figure: uniMMR": ["marginwatch_uni_mmr", "$warning", "$emergency"],
        "Native figure: margin ratio": ["marginwatch_margin_ratio", "$warning", "$emergency"],
        "Distance to liquidation": ["1 - marginwatch_risk_ratio"],
        "Data age": ["marginwatch_data_age_seconds"],
        "Alert deliveries by state": ["marginwatch_alerts_total", "by (state)"],
        "Prometheus alerts by state": ["ALERTS", "alertstate"],
        "Outbox depth": ["marginwatch_outbox_depth"],
        "Tick latency": ["histogram_quantile", "marginwatch_tick_latency_seconds_bucket"],
    }
    for prefix, needles in wanted.items():
        titles = [t for t in by_title if t.startswith(prefix)]
        assert len(titles) == 1, (prefix, sorted(by_title))
        for needle in needles:
            assert needle in by_title[titles[0]], (titles[0], needle)
    per_account = [p for p in panels() if "marginwatch_risk_ratio" in str(p["targets"])]
    assert all("{{account}}" in p["targets"][0]["legendFormat"] for p in per_account)
    levels = {v["name"]: v["query"] for v in dashboard()["templating"]["list"]}
    assert [levels[n] for n in ("warning", "critical", "emergency")] == ["0.70", "0.85", "0.95"]


def test_dashboard_layout() -> None:
    """Unique ids, every panel on the 24-column grid, no two overlapping, one datasource."""
    board = dashboard()
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for p in board["panels"]:
        g = p["gridPos"]
        assert g["x"] >= 0 and g["x"] + g["w"] <= 24, p["title"]
        xs, ys = range(g["x"], g["x"] + g["w"]), range(g["y"], g["y"] + g["h"])
        mine = {(x, y) for x in xs for y in ys}
        assert not mine & cells, f"{p['title']} overlaps another panel"
        cells |= mine
    for p in panels():
        assert p["datasource"]["uid"] == "${datasource}", p["title"]
        assert p["targets"] and all(t["datasource"]["uid"] == "${datasource}" for t in p["targets"])
        assert len({t["refId"] for t in p["targets"]}) == len(p["targets"])


def test_promtool_parses_every_dashboard_query(tmp_path: Path) -> None:
    """Each query (variables interpolated) as a recording rule: promtool parses the PromQL."""
    rules = [
        {"record": f"dashboard:query_{n}", "expr": interpolate(expr)}
        for n, (title, expr) in enumerate(dashboard_queries())
        if not title.startswith("$")
    ]
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    assert f"SUCCESS: {len(rules)} rules found" in run_promtool("check", "rules", path)
