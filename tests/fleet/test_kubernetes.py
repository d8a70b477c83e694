"""deploy/kubernetes: rendered from values.toml and the monitoring mixin, valid against the
Kubernetes JSON schemas (offline, from the kubernetes-validate wheel), and consistent with the
CLI (a pod's arguments select its shard from its host name)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.cli import build_parser
from monitor.service import shard

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "deploy" / "kubernetes" / "marginwatch.yaml"
VALUES = ROOT / "deploy" / "kubernetes" / "values.toml"
ALERTS = ROOT / "deploy" / "prometheus" / "alerts.yml"
K8S_VERSION = "1.30.0"


def _docs() -> dict[str, dict[str, Any]]:
    return {doc["kind"]: doc for doc in yaml.safe_load_all(MANIFESTS.read_text())}


def test_rendered_file_is_up_to_date() -> None:
    out = subprocess.run(
        [sys.executable, "scripts/render_kubernetes.py", "--check"], cwd=ROOT,
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert set(_docs()) == {"Service", "StatefulSet", "ServiceMonitor", "PrometheusRule"}


def test_core_manifests_valid_against_the_kubernetes_schemas() -> None:
    assert importlib.util.find_spec("kubernetes_validate") is not None, (
        "kubernetes-validate is not installed: it is in the dev extras (pip install -e '.[dev]')"
    )
    import kubernetes_validate as kv

    docs = _docs()
    for kind in ("Service", "StatefulSet"):
        kv.validate(docs[kind], K8S_VERSION, strict=True)  # raises on any mismatch
    broken = {**docs["StatefulSet"], "spec": {**docs["StatefulSet"]["spec"], "replicas": "3"}}
    with pytest.raises(kv.ValidationError):
        kv.validate(broken, K8S_VERSION, strict=True)
    with pytest.raises(kv.SchemaNotFoundError):  # CRDs: checked below, field by field
        kv.validate(docs["PrometheusRule"], K8S_VERSION, strict=True)


def test_statefulset_shards_pvc_and_secrets() -> None:
    values = tomllib.loads(VALUES.read_text())
    sts = _docs()["StatefulSet"]["spec"]
    assert sts["replicas"] == values["shards"]
    pod = sts["template"]["spec"]
    (container,) = pod["containers"]
    args = container["args"]
    assert args[args.index("--shards") + 1] == str(values["shards"])
    assert "--index-from-hostname" in args
    (claim,) = sts["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == values["storage"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["state"] == "/state" == {e["name"]: e["value"] for e in container["env"]}[
        "MARGINWATCH_STATE__DIR"]
    assert container["envFrom"] == [{"secretRef": {"name": values["secret"]}}]
    config_volume = next(v for v in pod["volumes"] if v["name"] == "config")
    assert config_volume["configMap"]["defaultMode"] & 0o022 == 0  # the config's mode check
    assert pod["securityContext"]["runAsNonRoot"] is True


@pytest.mark.e2e  # end to end: real processes or real timeouts
def test_every_pod_of_the_statefulset_follows_its_own_shard(tmp_path: Path) -> None:
    """The pod's arguments, as the CLI parses them, with $HOSTNAME = each pod's name."""
    docs = _docs()
    sts = docs["StatefulSet"]
    args = sts["spec"]["template"]["spec"]["containers"][0]["args"]
    parsed = build_parser().parse_args(args)
    assert parsed.command == "run" and parsed.index_from_hostname
    names = [f"acct-{i}" for i in range(30)]
    config = tmp_path / "marginwatch.toml"
    config.write_text(
        "".join(f'[[accounts]]\nname = "{n}"\napi_key_env = "K"\napi_secret_env = "S"\n\n'
                for n in names)
        + f'[[notify]]\nurl = "json://127.0.0.1:9/"\n[state]\ndir = "{tmp_path}"\n',
    )
    seen: list[str] = []
    for ordinal in range(sts["spec"]["replicas"]):
        shard_args = ["shard", *args[1:]]
        shard_args.remove("--log-json")
        shard_args[shard_args.index("--config") + 1] = str(config)
        out = subprocess.run(
            [sys.executable, "-m", "monitor", *shard_args], cwd=ROOT, capture_output=True,
            text=True, timeout=60,
            env={**os.environ, "HOSTNAME": f"{sts['metadata']['name']}-{ordinal}",
                 "K": "key-xxxxxxxxxxxx", "S": "secret-xxxxxxxxxx"},
        )
        assert out.returncode == 0, out.stderr
        mine = out.stdout.split()
        assert mine == [n for n in names if shard.shard_of(n, parsed.shards) == ordinal]
        seen += mine
    assert sorted(seen) == sorted(names)


def test_service_monitor_and_prometheus_rule_follow_the_mixin() -> None:
    docs = _docs()
    values = tomllib.loads(VALUES.read_text())
    rule = docs["PrometheusRule"]
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["spec"]["groups"] == yaml.safe_load(ALERTS.read_text())["groups"]
    monitor = docs["ServiceMonitor"]
    service = docs["Service"]
    # job = the Service's name, which the mixin's rules select (job="marginwatch").
    assert service["metadata"]["name"] == "marginwatch"
    assert 'job="marginwatch"' in ALERTS.read_text()
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"][
        "labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"
    for doc in (rule, monitor):
        assert doc["metadata"]["labels"]["release"] == values["prometheus_release"]
        assert doc["metadata"]["namespace"] == values["namespace"]
    # What the Prometheus Operator's CRD requires of every rule: a name and an expression.
    for group in rule["spec"]["groups"]:
        assert group["name"] and group["rules"]
        for r in group["rules"]:
            assert r["alert"] and r["expr"] and r["labels"]["severity"]
