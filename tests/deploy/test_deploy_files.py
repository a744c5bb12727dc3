"""The container and cluster files parse and validate, as far as a machine without Docker can tell.

No Docker engine or Kubernetes cluster runs here, so these tests check what can be checked: the
compose file through docker-compose's own parser, every manifest against the Kubernetes schemas,
the Dockerfile with hadolint, and that each service gets the probes, limits and scaling it needs.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
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
    result = run(docker_compose, "-f", "deploy/compose.yaml", "--profile", "simulator", "config")
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    expected = {
        "kafka-1",
        "kafka-2",
        "kafka-3",
        "postgres",
        "topics",
        "simulator",
        *SERVICES,
        *(f"{s}-migrate" for s in SERVICES),
    }
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
        assert "profiles" not in spec, "the services start without any profile"


def test_the_simulator_is_a_compose_profile_wired_to_the_services() -> None:
    docker_compose = shutil.which("docker-compose")
    assert docker_compose, "docker-compose is missing: run 'make tools'"
    result = run(docker_compose, "-f", "deploy/compose.yaml", "--profile", "simulator", "config")
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    simulator = services["simulator"]
    assert simulator["profiles"] == ["simulator"]
    assert simulator["build"]["target"] == "simulator"
    assert simulator["environment"]["SIM_INTAKE_URL"] == "http://intake:8000"
    assert simulator["environment"]["SIM_ROUTING_URL"] == "http://routing:8000"
    assert simulator["environment"]["SIM_BIND_HOST"] == "0.0.0.0"
    for service in ("intake", "routing", "survey"):
        assert simulator["depends_on"][service]["condition"] == "service_healthy"
    survey = services["survey"]["environment"]
    assert survey["SURVEY_SMTP_HOST"] == "simulator"
    assert survey["SURVEY_SMTP_PORT"] == simulator["environment"]["SIM_SMTP_PORT"]
    port = simulator["environment"]["SIM_WEBHOOK_PORT"]
    assert survey["SURVEY_MESSAGE_WEBHOOK_URL"] == f"http://simulator:{port}/messages"
    assert survey["SURVEY_INTAKE_BASE_URL"] == "http://intake:8000"


def test_the_simulator_image_installs_every_package_the_simulator_imports() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM \S+ AS simulator$", dockerfile, re.MULTILINE)
    assert re.search(r"^COPY simulator /app/simulator$", dockerfile, re.MULTILINE)
    [install] = re.findall(r"-c constraints.txt ((?:[a-z0-9-]+ ?)+)$", dockerfile, re.MULTILINE)
    installed = set(install.split())
    imported: set[str] = set()
    for path in (ROOT / "simulator").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported.add(node.module.split(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - {"simulator", "__future__"}
    assert third_party <= installed, f"the simulator image lacks {third_party - installed}"


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


def test_compose_runs_three_kafka_nodes_and_replicates_topics_3_times_2_in_sync() -> None:
    docker_compose = shutil.which("docker-compose")
    assert docker_compose, "docker-compose is missing: run 'make tools'"
    result = run(docker_compose, "-f", "deploy/compose.yaml", "config")
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    nodes = {name: spec for name, spec in services.items() if name.startswith("kafka")}
    assert sorted(nodes) == ["kafka-1", "kafka-2", "kafka-3"]
    voters = {spec["environment"]["KAFKA_CONTROLLER_QUORUM_VOTERS"] for spec in nodes.values()}
    assert voters == {"1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093"}
    node_ids = sorted(spec["environment"]["KAFKA_NODE_ID"] for spec in nodes.values())
    assert node_ids == ["1", "2", "3"]
    assert len({spec["environment"]["CLUSTER_ID"] for spec in nodes.values()}) == 1
    for spec in nodes.values():
        assert spec["environment"]["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "3"
        assert spec["environment"]["KAFKA_MIN_INSYNC_REPLICAS"] == "2"
    command = services["topics"]["command"]
    assert command[command.index("--replication-factor") + 1] == "3"
    assert command[command.index("--min-insync-replicas") + 1] == "2"
    bootstrap = "kafka-1:9092,kafka-2:9092,kafka-3:9092"
    assert command[command.index("--bootstrap") + 1] == bootstrap
    for service in SERVICES:
        assert services[service]["environment"][f"{service.upper()}_KAFKA_BOOTSTRAP"] == bootstrap


def test_the_topic_job_replicates_3_times_with_2_in_sync_and_enough_partitions() -> None:
    [config] = by_kind("ConfigMap").values()
    [container] = by_kind("Job")["atende-create-topics"]["spec"]["template"]["spec"]["containers"]
    from_config = {
        env["name"]: config["data"][env["valueFrom"]["configMapKeyRef"]["key"]]
        for env in container["env"]
        if "valueFrom" in env and "configMapKeyRef" in env["valueFrom"]
    }
    assert from_config["ATENDE_TOPIC_REPLICATION_FACTOR"] == "3"
    assert from_config["ATENDE_TOPIC_MIN_INSYNC_REPLICAS"] == "2"
    # A consumer instance beyond the partition count would sit idle.
    most = max(hpa["spec"]["maxReplicas"] for hpa in by_kind("HorizontalPodAutoscaler").values())
    assert int(from_config["ATENDE_TOPIC_PARTITIONS"]) >= most


def test_the_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint") or str(ROOT / ".venv" / "bin" / "hadolint")
    result = run(hadolint, "Dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_referenced_config_and_secret_key_exists() -> None:
    [config] = by_kind("ConfigMap").values()
    [secret] = by_kind("Secret").values()
    for deployment in [*by_kind("Deployment").values(), *by_kind("Job").values()]:
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            for variable in container.get("env", []):
                source = variable.get("valueFrom", {})
                if "configMapKeyRef" in source:
                    assert source["configMapKeyRef"]["key"] in config["data"], variable["name"]
                if "secretKeyRef" in source:
                    assert source["secretKeyRef"]["key"] in secret["stringData"], variable["name"]


def test_survey_reaches_intake_in_the_cluster_with_a_key_intake_knows() -> None:
    [secret] = by_kind("Secret").values()
    [survey] = [
        c
        for c in by_kind("Deployment")["survey"]["spec"]["template"]["spec"]["containers"]
        if c["name"] == "survey"
    ]
    env = {variable["name"]: variable for variable in survey["env"]}
    assert env["SURVEY_INTAKE_BASE_URL"]["value"] == "http://intake"
    assert "intake" in by_kind("Service"), "the Service the URL names"
    key_ref = env["SURVEY_INTAKE_API_KEY"]["valueFrom"]["secretKeyRef"]["key"]
    intake_keys = json.loads(secret["stringData"]["INTAKE_API_KEYS"])
    assert set(intake_keys[secret["stringData"][key_ref]]) == {
        "interactions:read",
        "interactions:write",
        "parties:read",
    }


def pod_specs() -> dict[str, dict[str, Any]]:
    """The pod template of every Deployment and Job, by name."""
    return {
        name: doc["spec"]["template"]["spec"]
        for kind in ("Deployment", "Job")
        for name, doc in by_kind(kind).items()
    }


@pytest.mark.parametrize("name", sorted(pod_specs()))
def test_every_pod_runs_without_a_token_and_under_seccomp(name: str) -> None:
    spec = pod_specs()[name]
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["securityContext"]["runAsNonRoot"] is True


@pytest.mark.parametrize("service", SERVICES)
def test_the_migration_job_gets_the_database_url_and_no_api_keys(service: str) -> None:
    [container] = by_kind("Job")[f"{service}-migrate"]["spec"]["template"]["spec"]["containers"]
    names = {variable["name"] for variable in container["env"]}
    assert f"{service.upper()}_DATABASE_URL" in names
    assert not any(name.endswith(("_API_KEYS", "_API_KEY", "_PSEUDONYM_KEY")) for name in names)


def test_intake_gets_its_pseudonym_key_from_the_secret() -> None:
    [container] = by_kind("Deployment")["intake"]["spec"]["template"]["spec"]["containers"]
    env = {variable["name"]: variable for variable in container["env"]}
    ref = env["INTAKE_PSEUDONYM_KEY"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": "atende-secrets", "key": "INTAKE_PSEUDONYM_KEY"}


def test_every_placeholder_in_the_shipped_secret_is_refused_in_production() -> None:
    from atende_events.guard import database_url_weakness, secret_weakness

    [secret] = by_kind("Secret").values()
    values = secret["stringData"]
    assert "secret store" in (K8S / "config.yaml").read_text(), "say where the real one comes from"
    for name, value in values.items():
        if name.endswith("_DATABASE_URL"):
            assert database_url_weakness(value), name
        elif name.endswith("_API_KEYS"):
            for key in json.loads(value):
                assert secret_weakness(key), name
        else:
            assert secret_weakness(value), name


def test_network_policies_deny_by_default_and_open_only_what_is_needed() -> None:
    policies = by_kind("NetworkPolicy")
    deny = policies["default-deny"]["spec"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny and "egress" not in deny
    egress_ports = {
        port["port"]
        for rule in policies["egress-dns-kafka-postgresql"]["spec"]["egress"]
        for port in rule["ports"]
    }
    assert egress_ports == {53, 9092, 5432}
    for policy in policies.values():
        for rule in policy["spec"].get("ingress", []):
            assert {port["port"] for port in rule["ports"]} == {8000}, "only the HTTP port"
    from_survey = policies["intake-from-survey"]["spec"]
    assert from_survey["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "intake"}


def test_survey_sends_mail_with_starttls_on_the_submission_port() -> None:
    [config] = by_kind("ConfigMap").values()
    assert config["data"]["SURVEY_SMTP_PORT"] == "587"
    from survey.config import Settings

    assert Settings.model_fields["smtp_starttls"].default is True


def test_the_base_image_is_pinned_or_says_why_not() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    bases = re.findall(r"^FROM (\S+)", dockerfile, re.MULTILINE)
    pinned = [base for base in bases if "@sha256:" in base]
    assert pinned == bases or "pin by digest" in dockerfile.lower()
