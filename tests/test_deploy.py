"""Deployment files, validated without a container engine: compose against the compose specification,
Kubernetes manifests against the Kubernetes schemas, and every service present in both."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from shared.subjects import SERVICES

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "deploy" / "k8s"


def _built_services() -> set[str]:
    return {p.name for p in (ROOT / "services").iterdir() if (p / "__main__.py").exists()}


def test_compose_file_matches_the_compose_specification():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "check_jsonschema",
            "--builtin-schema",
            "vendor.compose-spec",
            str(ROOT / "docker-compose.yml"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_compose_runs_every_service_with_a_health_check_and_no_fixed_names():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    for service in (*SERVICES, "gateway"):
        assert service in compose, service
        assert "healthcheck" in compose[service]
        assert "container_name" not in compose[service]  # `--scale` needs unnamed containers
    assert _built_services() <= set(compose)
    for service in SERVICES:
        assert compose[service]["command"] == [f"services.{service}"]
        assert "ports" not in compose[service]


def _manifests() -> list[tuple[str, dict]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        docs += [(path.name, d) for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


@pytest.mark.parametrize("name, doc", _manifests(), ids=lambda v: v if isinstance(v, str) else v.get("kind"))
def test_kubernetes_manifests_are_valid(name, doc):
    kubernetes_validate.validate(doc, "1.33.0", strict=True)


def test_kustomization_lists_every_manifest_and_every_service_has_deployment_and_hpa():
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files
    kinds = {(d["kind"], d["metadata"]["name"]) for _, d in _manifests()}
    for service in (*SERVICES, "gateway"):
        assert ("Deployment", service) in kinds and ("HorizontalPodAutoscaler", service) in kinds
    assert _built_services() <= {n for k, n in kinds if k == "Deployment"}
    assert ("StatefulSet", "nats") in kinds and ("StatefulSet", "postgres") in kinds
    nats = next(d for _, d in _manifests() if d["kind"] == "StatefulSet" and d["metadata"]["name"] == "nats")
    assert nats["spec"]["replicas"] == 3


def test_every_service_container_has_real_probes():
    for _, doc in _manifests():
        if doc["kind"] != "Deployment":
            continue
        container = doc["spec"]["template"]["spec"]["containers"][0]
        assert "readinessProbe" in container and "livenessProbe" in container, doc["metadata"]["name"]


def test_env_example_documents_every_setting():
    """.env.example lists every MOLTGRID_* setting any process reads (the shared ones, the gateway's and each
    service's own)."""
    import importlib

    from pydantic_settings import BaseSettings

    from shared.config import Settings

    classes: list[type[BaseSettings]] = [Settings, importlib.import_module("gateway.config").GatewaySettings]
    for service in sorted(p.parent.name for p in (ROOT / "services").glob("*/__main__.py")):
        module = importlib.import_module(f"services.{service}.__main__")
        classes += [
            v
            for v in vars(module).values()
            if isinstance(v, type) and issubclass(v, Settings) and v.__module__ == module.__name__
        ]
    documented = (ROOT / ".env.example").read_text()
    missing = sorted(
        {f"MOLTGRID_{name.upper()}" for cls in classes for name in cls.model_fields}
        - {line.split("=")[0] for line in documented.splitlines() if line.startswith("MOLTGRID_")}
    )
    assert missing == []


def test_postgres_images_ship_pgvector():
    """Vector memory's migration creates the pgvector extension: the PostgreSQL of both deployments has it."""
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    assert compose["postgres"]["image"].startswith("pgvector/pgvector:")
    postgres = next(
        d for _, d in _manifests() if d["kind"] == "StatefulSet" and d["metadata"]["name"] == "postgres"
    )
    assert postgres["spec"]["template"]["spec"]["containers"][0]["image"].startswith("pgvector/pgvector:")
    embedder = compose["embedder"]
    assert embedder["command"] == ["services.embedder"] and "ports" not in embedder
