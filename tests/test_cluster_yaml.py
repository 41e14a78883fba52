"""cluster.yaml passes Ray's own autoscaler validation, offline (no AWS call, no credentials)."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import jsonschema
import pytest
import yaml

ray_autoscaler = pytest.importorskip("ray.autoscaler")
from ray.autoscaler._private.util import prepare_config, validate_config  # noqa: E402

CLUSTER_YAML = Path(__file__).resolve().parents[1] / "cluster.yaml"


def ray_schema() -> dict:
    with open(os.path.join(os.path.dirname(ray_autoscaler.__file__), "ray-schema.json")) as f:
        return json.load(f)


def validate_cluster(raw: dict) -> dict:
    """Ray's checks as `ray up` runs them before touching the cloud, plus one they leave out."""
    jsonschema.validate(raw, ray_schema())  # the raw file: prepare_config drops some unknown keys
    full = prepare_config(copy.deepcopy(raw))
    validate_config(full)
    for name, node_type in full["available_node_types"].items():
        if node_type.get("min_workers", 0) > node_type.get("max_workers", full["max_workers"]):
            raise ValueError(f"node type {name}: min_workers above max_workers")
    return full


@pytest.fixture
def raw() -> dict:
    return yaml.safe_load(CLUSTER_YAML.read_text())


@pytest.fixture(autouse=True)
def no_cloud_credentials(monkeypatch, tmp_path) -> None:
    """Prove the validation is offline: no AWS credentials or config can be found."""
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))


def test_cluster_yaml_is_valid_for_ray_up(raw) -> None:
    full = validate_cluster(raw)
    head = full["available_node_types"][full["head_node_type"]]
    assert full["provider"]["type"] == "aws" and head["max_workers"] == 0
    workers = [t for name, t in full["available_node_types"].items() if name != full["head_node_type"]]
    assert workers and all(t["min_workers"] == 0 and t["max_workers"] >= 1 for t in workers)


def test_cluster_yaml_ships_and_installs_the_repo(raw) -> None:
    assert "." in raw["file_mounts"].values()
    assert any("pip install" in c and "-e" in c for c in raw["setup_commands"])


def test_the_dashboard_listens_on_localhost_only(raw) -> None:
    head_start = " ".join(raw["head_start_ray_commands"])
    assert "--head" in head_start and "--dashboard-host=127.0.0.1" in head_start
    assert all("--head" not in c for c in raw["worker_start_ray_commands"])


def test_every_ray_start_uses_token_auth_and_every_node_gets_the_token(raw) -> None:
    starts = [c for c in raw["head_start_ray_commands"] + raw["worker_start_ray_commands"] if "ray start" in c]
    assert len(starts) == 2 and all(c.startswith("RAY_AUTH_MODE=token ray start") for c in starts)
    assert raw["file_mounts"]["~/.ray/auth_token"] == "~/.ray/auth_token"
    assert any("export RAY_AUTH_MODE=token" in c for c in raw["setup_commands"])


def test_no_port_is_opened_beyond_rays_own_rules(raw) -> None:
    """Ray's default group opens SSH and intra-cluster traffic only; nothing may add to it."""
    assert not raw["provider"].get("security_group", {}).get("IpPermissions")
    assert all("SecurityGroupIds" not in t.get("node_config", {}) for t in raw["available_node_types"].values())


def test_an_unknown_key_is_caught(raw) -> None:
    raw["available_node_types"]["gpu_worker"]["min_worker"] = 1
    with pytest.raises(jsonschema.ValidationError, match="min_worker"):
        validate_cluster(raw)
    raw = yaml.safe_load(CLUSTER_YAML.read_text())
    raw["setup_comands"] = []
    with pytest.raises(jsonschema.ValidationError, match="setup_comands"):
        validate_cluster(raw)


def test_a_fractional_gpu_resource_is_caught(raw) -> None:
    raw["available_node_types"]["gpu_worker"]["resources"] = {"GPU": 0.5}
    with pytest.raises(jsonschema.ValidationError):
        validate_cluster(raw)


def test_a_head_node_type_missing_from_the_node_types_is_caught(raw) -> None:
    raw["head_node_type"] = "cpu_head"
    with pytest.raises(ValueError, match="head_node_type"):
        validate_cluster(raw)


def test_min_workers_above_max_workers_is_caught(raw) -> None:
    raw["available_node_types"]["gpu_worker"]["min_workers"] = raw["max_workers"] + 1
    with pytest.raises(ValueError, match="max_workers"):
        validate_cluster(raw)
    raw = yaml.safe_load(CLUSTER_YAML.read_text())
    raw["available_node_types"]["gpu_worker"].update(min_workers=3, max_workers=2)
    with pytest.raises(ValueError, match="gpu_worker: min_workers above max_workers"):
        validate_cluster(raw)
