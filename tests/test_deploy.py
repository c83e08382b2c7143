"""The deployment files (deploy/) and Rasa's scaled endpoints, checked without a cluster.

The Kubernetes manifests are validated against Kubernetes' own schemas
(kubernetes-validate, strict: an unknown field fails). The compose file is
checked by ``docker compose config`` where the compose plugin is installed,
and always by the structure checks below (docs/scaling.md says what was not
run: no image was built, no cluster applied).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
SCALEOUT = ROOT / "endpoints.scaleout.yml"
KUBERNETES_VERSION = "1.27.0"


def _variables(path: Path) -> set[str]:
    """The ``${VAR}`` names a YAML file uses (comments aside)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return {
        name
        for line in lines
        if not line.lstrip().startswith("#")
        for name in re.findall(r"\$\{(\w+)\}", line)
    }


def _compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text(encoding="utf-8"))


def _manifests() -> list[dict[str, Any]]:
    text = (DEPLOY / "k8s" / "care.yaml").read_text(encoding="utf-8")
    return [doc for doc in yaml.safe_load_all(text) if doc]


def test_kubernetes_manifests_follow_the_schema() -> None:
    import kubernetes_validate

    manifests = _manifests()
    assert {m["kind"] for m in manifests} >= {"Deployment", "StatefulSet", "Service", "Job"}
    for manifest in manifests:
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


def test_a_wrong_manifest_is_caught() -> None:
    """The validation above can fail: a misspelt field does."""
    import kubernetes_validate

    deployment = next(m for m in _manifests() if m["kind"] == "Deployment")
    deployment["spec"]["replica"] = deployment["spec"].pop("replicas")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_kubernetes_rasa_gets_every_variable_of_the_scaled_endpoints() -> None:
    manifests = _manifests()
    config = next(m for m in manifests if m["kind"] == "ConfigMap")["data"]
    rasa = next(m for m in manifests if m["metadata"]["name"] == "rasa" and "template" in m["spec"])
    container = rasa["spec"]["template"]["spec"]["containers"][0]
    given = set(config) | {e["name"] for e in container.get("env", [])}
    assert _variables(SCALEOUT) <= given, _variables(SCALEOUT) - given
    assert "endpoints.scaleout.yml" in container["command"]
    gateway = next(m for m in manifests if m["kind"] == "StatefulSet")
    env = {e["name"]: e for e in gateway["spec"]["template"]["spec"]["containers"][0]["env"]}
    # Each worker its own, stable id: the leases depend on it.
    assert env["GATEWAY_WORKER_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"


def test_the_compose_file_holds_together() -> None:
    compose = _compose()
    services = compose["services"]
    assert {"postgres", "redis", "rasa", "actions", "gateway", "balancer", "migrate"} <= set(
        services
    )
    for name, service in services.items():
        for needed in service.get("depends_on", {}):
            assert needed in services, f"{name} depends on a service that is not there: {needed}"
    rasa = services["rasa"]
    assert _variables(SCALEOUT) <= set(rasa["environment"])
    assert "endpoints.scaleout.yml" in rasa["command"]
    for name in ("rasa", "actions", "gateway"):
        assert services[name]["deploy"]["replicas"] >= 2
    # The gateways reach Rasa through the balancer, which nginx.conf configures.
    assert services["gateway"]["environment"]["RASA_URL"] == "http://balancer:5005"
    nginx = (DEPLOY / "nginx.conf").read_text(encoding="utf-8")
    assert "server rasa:5005" in nginx and "server gateway:8000" in nginx
    # Every module the containers run exists.
    commands = [" ".join(map(str, s.get("command", []))) for s in services.values()]
    for module in re.findall(r"python -m ([\w.]+)", " ".join(commands)):
        if module in ("rasa", "rasa_sdk"):
            continue
        path = ROOT / module.replace(".", "/")
        assert path.with_suffix(".py").exists() or (path / "__main__.py").exists(), module
    assert (DEPLOY / "Dockerfile").exists()


def test_docker_compose_config_accepts_the_file() -> None:
    docker = shutil.which("docker")
    if docker is None:
        pytest.skip("docker is not installed: `docker compose config` not run")
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
    if probe.returncode != 0:
        pytest.skip("the docker compose plugin is not installed: `docker compose config` not run")
    result = subprocess.run(
        [docker, "compose", "-f", str(DEPLOY / "docker-compose.yml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        env={"POSTGRES_PASSWORD": "placeholder", "PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_rasa_reads_the_scaled_endpoints(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rasa's own reader expands the variables into a SQL tracker store and a Redis lock store,
    and names a variable that is unset."""
    from rasa.core.utils import AvailableEndpoints

    values = {
        "ACTION_SERVER_URL": "http://actions:5055",
        "TRACKER_DB_HOST": "db.internal",
        "TRACKER_DB_PORT": "5432",
        "TRACKER_DB_USER": "care",
        "TRACKER_DB_PASSWORD": "",
        "TRACKER_DB_NAME": "care_rasa",
        "TRACKER_DB_LOGIN_DB": "care",
        "LOCK_REDIS_HOST": "redis.internal",
        "LOCK_REDIS_PORT": "6379",
        "LOCK_REDIS_PASSWORD": "",
        "LOCK_REDIS_DB": "1",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    endpoints = AvailableEndpoints.read_endpoints(str(SCALEOUT))
    assert endpoints.tracker_store is not None and endpoints.lock_store is not None
    assert endpoints.tracker_store.type == "SQL"
    assert endpoints.tracker_store.url == "db.internal"
    assert endpoints.tracker_store.kwargs["dialect"] == "postgresql"
    assert endpoints.tracker_store.kwargs["db"] == "care_rasa"
    assert endpoints.lock_store.type == "redis"
    assert endpoints.lock_store.url == "redis.internal"
    assert endpoints.action.url == "http://actions:5055/webhook"
    monkeypatch.delenv("LOCK_REDIS_HOST")
    with pytest.raises(Exception, match="LOCK_REDIS_HOST"):
        AvailableEndpoints.read_endpoints(str(SCALEOUT))
