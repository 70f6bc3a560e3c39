"""compose.yaml and the Dockerfile, checked without a container engine (none runs on CI).

The compose file is validated against the Compose Specification JSON schema that `check-jsonschema`
vendors (`compose-spec.json`), then against what the app needs: pinned Elasticsearch of the client's
major version, heap, data volume, healthcheck, explicit security settings, valid RAGSEARCH_* names.
"""

from __future__ import annotations

import json
import re
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from ragsearch.app.settings import valid_env_names

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load((REPO / "compose.yaml").read_text()))


def test_compose_matches_the_compose_spec_schema(compose: dict[str, Any]) -> None:
    schema_file = resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    schema = json.loads(schema_file.read_text())
    jsonschema.validators.validator_for(schema)(schema).validate(compose)


def test_elasticsearch_service(compose: dict[str, Any]) -> None:
    es = compose["services"]["elasticsearch"]
    image, _, tag = es["image"].rpartition(":")
    assert image == "docker.elastic.co/elasticsearch/elasticsearch"
    assert re.fullmatch(r"\d+\.\d+\.\d+", tag), "pin an exact Elasticsearch version"
    client_major = metadata.version("elasticsearch").split(".")[0]
    assert tag.split(".")[0] == client_major, "the Python client speaks only its own major version"
    env = es["environment"]
    assert env["discovery.type"] == "single-node"
    heap = re.findall(r"-Xm([sx])(\d+[mg])", env["ES_JAVA_OPTS"])
    assert len(heap) == 2 and heap[0][1] == heap[1][1], "set -Xms and -Xmx, equal"
    for key in (
        "xpack.security.enabled",
        "xpack.security.http.ssl.enabled",
        "xpack.security.transport.ssl.enabled",
    ):
        assert key in env, f"{key} must be explicit"
    assert env["xpack.security.enabled"] == "true" and "ELASTIC_PASSWORD" in env
    assert any(v.endswith(":/usr/share/elasticsearch/data") for v in es["volumes"])
    assert "_cluster/health" in " ".join(es["healthcheck"]["test"])
    assert all(p.startswith("127.0.0.1:") for p in es["ports"])


def test_api_and_ui_share_one_image_and_wait_for_elasticsearch(compose: dict[str, Any]) -> None:
    api, ui = compose["services"]["api"], compose["services"]["ui"]
    assert api["image"] == ui["image"] and api["build"] == ui["build"]
    assert api["build"]["dockerfile"] == "Dockerfile" and (REPO / "Dockerfile").is_file()
    assert api["command"][0] == "serve" and ui["command"][0] == "ui"
    for svc in (api, ui):
        assert svc["depends_on"]["elasticsearch"]["condition"] == "service_healthy"
        env = svc["environment"]
        assert env["RAGSEARCH_BACKEND"] == "elasticsearch"
        assert env["RAGSEARCH_ES_URL"] == "http://elasticsearch:9200"
        unknown = {k for k in env if k.startswith("RAGSEARCH_")} - valid_env_names()
        assert not unknown, f"settings refuse unknown names: {unknown}"


def test_dockerfile_pins_cpu_torch_as_pyproject_does() -> None:
    dockerfile = (REPO / "Dockerfile").read_text()
    pyproject = (REPO / "pyproject.toml").read_text()
    pin = re.search(r'"torch==([\d.]+)"', pyproject)
    assert pin and f"torch=={pin.group(1)}" in dockerfile
    assert "download.pytorch.org/whl/cpu" in dockerfile
    assert re.search(r"^USER (?!root)", dockerfile, re.M), "run as a non-root user"


def test_dockerfile_copies_every_stage_of_the_package() -> None:
    """The image installs the package from the stage folders that ragsearch/ links to; a stage left out of
    the COPY lines installs a package that fails on import (answer/ and search/ were missing)."""
    dockerfile = (REPO / "Dockerfile").read_text()
    stages = [p.name for p in (REPO / "ragsearch").iterdir() if p.is_symlink()]
    assert {"app", "answer", "search", "rerank", "ingest", "eval", "retrieval"} <= set(stages)
    for stage in [*stages, "ragsearch"]:
        assert re.search(rf"^COPY {stage} \./{stage}$", dockerfile, re.M), stage
