"""deploy/ validates: Kubernetes manifests against the Kubernetes API schemas (kubernetes-validate,
strict), nginx's configurations with `nginx -t`, the compose file with `docker compose config`
where that CLI and its compose plugin exist, and the facts that tie them to the service
(probe paths, settings names, the request-size limit, non-root read-only containers).
"""
from __future__ import annotations

import datetime
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from cds_service import Settings
from tests.conftest import free_port

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
K8S = DEPLOY / "kubernetes"
NGINX = DEPLOY / "nginx"


def _documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def _k8s() -> dict[str, dict[str, Any]]:
    """Every resource of deploy/kubernetes by kind/name."""
    resources = {}
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in _documents(path):
            resources[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    return resources


@pytest.mark.parametrize("path", sorted(p.name for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml"))
def test_kubernetes_manifests_validate_strictly(path: str) -> None:
    version = kubernetes_validate.latest_version()
    for doc in _documents(K8S / path):
        kubernetes_validate.validate(doc, version, strict=True)


def test_the_validator_is_real() -> None:
    deployment = _k8s()["Deployment/cds-service"]
    probe = deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]
    probe["httpGett"] = probe.pop("httpGet")
    with pytest.raises(kubernetes_validate.ValidationError, match="httpGett"):
        kubernetes_validate.validate(deployment, kubernetes_validate.latest_version(), strict=True)


def test_kustomization_lists_every_manifest() -> None:
    listed = set(yaml.safe_load((K8S / "kustomization.yaml").read_text())["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}


def test_deployment_probes_resources_and_security_context() -> None:
    resources = _k8s()
    pod = resources["Deployment/cds-service"]["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert {"cpu", "memory"} <= set(container["resources"]["limits"])
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] > 0
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    settings = resources["ConfigMap/cds-service-settings"]["data"]
    assert {settings["CDS_DATA_DIR"], "/tmp", str(Path(settings["CDS_TRUST_FILE"]).parent)} <= mounts
    # the whole pod's grace period outlasts the preStop sleep plus gunicorn's 10 s drain
    assert pod["terminationGracePeriodSeconds"] >= container["lifecycle"]["preStop"]["sleep"]["seconds"] + 10
    job = resources["Job/cds-service-migrate"]["spec"]["template"]["spec"]
    assert job["containers"][0]["command"] == ["cds-service", "migrate"]
    assert job["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
    assert resources["HorizontalPodAutoscaler/cds-service"]["spec"]["metrics"][0]["resource"]["name"] == "cpu"
    assert "PodDisruptionBudget/cds-service" in resources and "Service/cds-service" in resources


def test_settings_in_configmap_and_secrets_are_real_settings() -> None:
    resources = _k8s()
    env = dict(resources["ConfigMap/cds-service-settings"]["data"])
    env |= resources["Secret/cds-service-secrets"]["stringData"]
    settings = Settings.from_env(env)  # an unknown CDS_ name or a bad value raises
    assert settings.base_url.startswith("https://")
    assert settings.database_url.startswith("postgresql")
    assert settings.patient_hash_salt
    assert "trust.yaml" in resources["Secret/cds-service-trust"]["stringData"]


def _compose() -> dict[str, Any]:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())  # type: ignore[no-any-return]


def test_compose_services_order_and_settings() -> None:
    services = _compose()["services"]
    assert set(services) == {"postgres", "migrate", "cds", "nginx"}
    assert services["migrate"]["command"] == ["cds-service", "migrate"]
    assert services["cds"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["cds"]["deploy"]["replicas"] >= 2
    assert "/readyz" in " ".join(services["cds"]["healthcheck"]["test"])
    assert all("healthcheck" in services[name] for name in ("postgres", "cds", "nginx"))
    assert any(v.endswith(":/var/lib/postgresql/data") for v in services["postgres"]["volumes"])
    env = services["cds"]["environment"]
    assert env == services["migrate"]["environment"]  # one set of settings, one salt
    assert {"CDS_BASE_URL", "CDS_PATIENT_HASH_SALT", "CDS_DATABASE_URL", "CDS_TRUST_FILE"} <= set(env)
    Settings.from_env({k: v.replace("${", "").replace("}", "") for k, v in env.items()})


def _docker_compose() -> list[str] | None:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    return None


def test_docker_compose_config_accepts_the_file(tmp_path: Path) -> None:
    command = _docker_compose()
    if command is None:
        pytest.skip("the docker CLI with its compose plugin is not installed (no `docker compose`); "
                    "the compose file is still checked by test_compose_services_order_and_settings")
    env = {**os.environ, "POSTGRES_PASSWORD": "p", "CDS_PATIENT_HASH_SALT": "s", "CDS_BASE_URL": "https://cds.test"}
    result = subprocess.run([*command, "-f", str(DEPLOY / "compose.yaml"), "config", "--quiet"],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    missing = subprocess.run([*command, "-f", str(DEPLOY / "compose.yaml"), "config", "--quiet"],
                             capture_output=True, text=True, env={**env, "CDS_PATIENT_HASH_SALT": ""})
    assert missing.returncode != 0 and "CDS_PATIENT_HASH_SALT" in missing.stderr


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if found is None:
        pytest.skip("nginx is not installed: run .ci/setup-nginx.sh")
    return found


def nginx_main_conf(tmp: Path, servers: str) -> str:
    """A main nginx.conf for a test prefix in ``tmp``: our own pid, logs and temp paths."""
    for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (tmp / name).mkdir(parents=True, exist_ok=True)
    user = "user root;" if os.geteuid() == 0 else ""
    return f"""{user}
daemon off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 2048; }}
http {{
    access_log {tmp}/access.log;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
{servers}
}}
"""


def site_conf(upstreams: list[int], listen: str) -> str:
    """deploy/nginx/conf.d/cds-service.conf with loopback instances and port, and the repo's snippet."""
    text = (NGINX / "conf.d" / "cds-service.conf").read_text()
    line = "    server cds:8080 resolve max_fails=1 fail_timeout=5s;\n"
    assert line in text and "    listen 8080;\n" in text and "include /etc/nginx/cds-proxy.conf;" in text
    servers = "".join(f"    server 127.0.0.1:{port} max_fails=1 fail_timeout=5s;\n" for port in upstreams)
    return (text.replace(line, servers).replace("    listen 8080;\n", f"    listen {listen};\n")
            .replace("/etc/nginx/cds-proxy.conf", str(NGINX / "cds-proxy.conf")))


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cds.example.org")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    crt, pem = tmp / "tls.crt", tmp / "tls.key"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    return crt, pem


def test_nginx_accepts_the_site_and_the_tls_example(tmp_path: Path) -> None:
    nginx = nginx_binary()
    crt, key = _self_signed(tmp_path)
    tls = ((NGINX / "cds-service-tls.conf").read_text()
           .replace("/etc/nginx/tls/tls.crt", str(crt)).replace("/etc/nginx/tls/tls.key", str(key))
           .replace("/etc/nginx/cds-proxy.conf", str(NGINX / "cds-proxy.conf"))
           .replace("listen 8443 ssl;", f"listen 127.0.0.1:{free_port()} ssl;"))
    conf = tmp_path / "nginx.conf"
    conf.write_text(nginx_main_conf(tmp_path, site_conf([1, 2], f"127.0.0.1:{free_port()}") + tls))
    result = subprocess.run([nginx, "-t", "-p", str(tmp_path), "-c", str(conf)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_nginx_limits_match_the_service_settings() -> None:
    proxy = (NGINX / "cds-proxy.conf").read_text()
    defaults = Settings()
    assert "client_max_body_size 5m;" in proxy and defaults.max_body_bytes == 5 * 1024 * 1024
    assert "large_client_header_buffers 4 32k;" in proxy and defaults.max_token_bytes + 100 < 32 * 1024
    for directive in ("client_header_timeout", "client_body_timeout", "X-Forwarded-For", "X-Forwarded-Proto"):
        assert directive in proxy
