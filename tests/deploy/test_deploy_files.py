"""The container and cluster files parse and validate, as far as a machine without Docker can tell.

No Docker engine or Kubernetes cluster runs here, so these tests check what can be checked: the
compose file through docker-compose's own parser, every manifest against the Kubernetes schemas,
the Dockerfile with hadolint, and that each service gets the probes, limits and scaling it needs.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
SERVICES = ["intake", "routing", "sla", "survey", "analytics"]
KUBERNETES_VERSION = "1.33.0"


def run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)


def manifests() -> list[dict[str, Any]]:
    """Every resource the kustomization lists, in order."""
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    documents: list[dict[str, Any]] = []
    for resource in kustomization["resources"]:
        documents += [doc for doc in yaml.safe_load_all((K8S / resource).read_text()) if doc]
    return documents


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in manifests() if doc["kind"] == kind}


def test_compose_file_is_valid_for_docker_compose() -> None:
    docker_compose = shutil.which("docker-compose")
    assert docker_compose, "docker-compose is missing: run 'make tools'"
    result = run(docker_compose, "-f", "deploy/compose.yaml", "config")
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    expected = {"kafka", "postgres", "topics", *SERVICES, *(f"{s}-migrate" for s in SERVICES)}
    assert set(config["services"]) == expected
    for service in SERVICES:
        spec = config["services"][service]
        assert spec["build"]["args"]["SERVICE"] == service
        assert (
            spec["depends_on"][f"{service}-migrate"]["condition"]
            == "service_completed_successfully"
        )
        assert spec["depends_on"]["topics"]["condition"] == "service_completed_successfully"
        assert f"{service.upper()}_KAFKA_BOOTSTRAP" in spec["environment"]


@pytest.mark.parametrize(
    "document", manifests(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}"
)
def test_every_manifest_validates_against_the_kubernetes_schema(document: dict[str, Any]) -> None:
    kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("service", SERVICES)
def test_each_service_has_probes_resources_autoscaling_and_a_disruption_budget(
    service: str,
) -> None:
    deployment = by_kind("Deployment")[service]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert {"cpu", "memory"} <= set(container["resources"]["limits"])
    env = {item["name"] for item in container["env"]}
    assert {f"{service.upper()}_DATABASE_URL", f"{service.upper()}_KAFKA_BOOTSTRAP"} <= env

    hpa = by_kind("HorizontalPodAutoscaler")[service]
    assert hpa["spec"]["scaleTargetRef"]["name"] == service
    assert hpa["spec"]["maxReplicas"] <= 6, "no more consumers than partitions"
    assert (
        by_kind("PodDisruptionBudget")[service]["spec"]["selector"]["matchLabels"]
        == (deployment["spec"]["selector"]["matchLabels"])
    )
    assert (
        by_kind("Service")[service]["spec"]["selector"]
        == (deployment["spec"]["selector"]["matchLabels"])
    )
    assert by_kind("Job")[f"{service}-migrate"]["spec"]["template"]["spec"]["containers"][0][
        "args"
    ] == ["migrate"]


def test_a_job_creates_the_topics() -> None:
    [container] = by_kind("Job")["atende-create-topics"]["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["create-topics"]


def test_the_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint") or str(ROOT / ".venv" / "bin" / "hadolint")
    result = run(hadolint, "Dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr
