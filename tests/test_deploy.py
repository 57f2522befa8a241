"""The deployment files parse and say what they must: two or more nodes behind a load balancer that
health-checks /readyz, Redis and Postgres with pgvector, Kubernetes objects with probes and a
preStop drain, and a dashboard whose every query names a metric a node serves."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
METRICS_SOURCE = (DEPLOY.parent / "server" / "metrics.py").read_text()


def _documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def test_compose_runs_two_nodes_behind_haproxy_with_redis_and_pgvector() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    nodes = {name: s for name, s in services.items()
             if s.get("image") == "wingman-server" and "NODE_ID" in s.get("environment", {})}
    assert len(nodes) >= 2
    assert len({s["environment"]["NODE_ID"] for s in nodes.values()}) == len(nodes)
    for node in nodes.values():
        env = node["environment"]
        assert env["REDIS_URL"].startswith("redis://redis:")
        assert env["DATABASE_URL"].startswith("postgresql://")
        assert "@postgres:" in env["DATABASE_URL"]
        assert float(env["DRAIN_SECONDS"]) > 0
    assert services["postgres"]["image"].startswith("pgvector/pgvector:")
    assert services["redis"]["image"].startswith("redis:7")
    assert "--appendonly" in services["redis"]["command"]
    haproxy = (DEPLOY / "haproxy.cfg").read_text()
    assert "option httpchk GET /readyz" in haproxy and "timeout tunnel" in haproxy
    for name in nodes:
        assert re.search(rf"^\s*server \S+ {name}:8000 check", haproxy, re.M), name
    scraped = yaml.safe_load((DEPLOY / "prometheus.yml").read_text())
    targets = scraped["scrape_configs"][0]["static_configs"][0]["targets"]
    assert sorted(targets) == sorted(f"{name}:8000" for name in nodes)


def test_kubernetes_objects_have_probes_a_drain_and_budgets() -> None:
    folder = DEPLOY / "k8s"
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    listed = set(kustomization["resources"])
    assert listed == {p.name for p in folder.glob("*.yaml")} - {"kustomization.yaml"}
    objects = [doc for name in sorted(listed) for doc in _documents(folder / name)]
    kinds = {doc["kind"]: doc for doc in objects}
    assert {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget",
            "ConfigMap"} <= set(kinds)
    deployment = kinds["Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["lifecycle"]["preStop"]["exec"]["command"][0] == "sleep"
    pre_stop = float(container["lifecycle"]["preStop"]["exec"]["command"][1])
    drain = float(kinds["ConfigMap"]["data"]["DRAIN_SECONDS"])
    # Time for the preStop wait, the drain and uvicorn's own graceful stop (15 s).
    assert pod["terminationGracePeriodSeconds"] >= pre_stop + drain + 15
    assert any(e["name"] == "NODE_ID" and "fieldRef" in e["valueFrom"] for e in container["env"])
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert kinds["Service"]["spec"]["selector"] == selector
    assert kinds["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"] == selector
    assert kinds["HorizontalPodAutoscaler"]["spec"]["scaleTargetRef"]["name"] == \
        deployment["metadata"]["name"]


def test_the_dashboard_queries_metrics_the_nodes_serve() -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "wingman.json").read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert len(exprs) >= 15
    named = {re.sub(r"_(total|bucket|count|sum)$", "", m)
             for e in exprs for m in re.findall(r"\bwingman_[a-z_]+", e)}
    assert named
    unknown = [name for name in named if f'"{name}"' not in METRICS_SOURCE]
    assert unknown == []
    provisioning = DEPLOY / "grafana" / "provisioning"
    for path in provisioning.rglob("*.yaml"):
        assert yaml.safe_load(path.read_text())["apiVersion"] == 1
