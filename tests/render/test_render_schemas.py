"""Rendered manifests pass the validators a cluster applies: Knative's Service CRD
schema (with unknown fields rejected, since the API server would silently prune
them) and Kubernetes' own schemas for core objects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.render.conftest import REPO, VARIANTS

K8S_VERSION = kubernetes_validate.latest_version()
KNATIVE_ONLY_POD_FIELDS = ("containerConcurrency", "timeoutSeconds", "responseStartTimeoutSeconds",
                           "idleTimeoutSeconds")


def rejecting_unknown_fields(schema: Any) -> Any:
    """The schema with every object that lists its properties closed to others,
    except where the CRD keeps unknown fields (x-kubernetes-preserve-unknown-fields)."""
    if isinstance(schema, list):
        return [rejecting_unknown_fields(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    closed = {key: rejecting_unknown_fields(value) for key, value in schema.items()}
    if ("properties" in schema and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")):
        closed["additionalProperties"] = False
    return closed


def _int_in_bits(bits: int):
    return lambda value: not isinstance(value, int) or -(2 ** (bits - 1)) <= value < 2 ** (bits - 1)


@pytest.fixture(scope="module")
def service_validator(crd_schema_path: Path) -> jsonschema.Validator:
    crd = yaml.safe_load(crd_schema_path.read_text(encoding="utf-8"))
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
    formats = jsonschema.FormatChecker()
    formats.checks("int32")(_int_in_bits(32))
    formats.checks("int64")(_int_in_bits(64))
    schema = rejecting_unknown_fields(version["schema"]["openAPIV3Schema"])
    return jsonschema.Draft7Validator(schema, format_checker=formats)


def documents(output: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(output) if doc is not None]


def services(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in docs if d["apiVersion"] == "serving.knative.dev/v1"]


def core_objects(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in docs if d["apiVersion"] == "v1"]


def as_pod(service: dict[str, Any]) -> dict[str, Any]:
    """The revision's pod as Kubernetes will run it, for Kubernetes' Pod schema."""
    spec = {k: v for k, v in service["spec"]["template"]["spec"].items()
            if k not in KNATIVE_ONLY_POD_FIELDS}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "revision"}, "spec": spec}


def assert_valid_core(obj: dict[str, Any]) -> None:
    kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


RENDER_ARGS = {
    "claim": ["--image", "registry.example.com/sdserve:0.1.0"],
    "in-image": ["--model-in-image", "--model", "/models/sd15"],
    "namespace-domain": ["--namespace", "gpu", "--domain", "sd.example.org",
                         "--storage-class", "nas", "--models-pvc", "weights"],
}


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("options", RENDER_ARGS)
def test_services_validate_against_the_knative_crd(render, service_validator, variant, options):
    code, out, err = render(VARIANTS[variant], *RENDER_ARGS[options])
    assert code == 0, err
    rendered = services(documents(out))
    assert len(rendered) == VARIANTS[variant].count("kind: Service")
    for service in rendered:
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
                  for e in service_validator.iter_errors(service)]
        assert errors == []


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("options", RENDER_ARGS)
def test_core_objects_and_pods_validate_against_kubernetes(render, variant, options):
    code, out, err = render(VARIANTS[variant], *RENDER_ARGS[options])
    assert code == 0, err
    docs = documents(out)
    for obj in core_objects(docs):
        assert_valid_core(obj)
    for service in services(docs):
        assert_valid_core(as_pod(service))


def test_the_closed_schema_catches_a_field_the_api_server_would_prune(service_validator):
    service = documents(VARIANTS["seed"])[0]
    service["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 300
    assert not service_validator.is_valid(service)


def test_kubernetes_validate_rejects_a_bad_claim():
    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "m"},
             "spec": {"accessModes": "ReadWriteMany"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        assert_valid_core(claim)


@pytest.mark.parametrize("path", sorted((REPO / "deploy").rglob("*.yaml")), ids=str)
def test_deploy_examples_validate(path, service_validator):
    for obj in documents(path.read_text(encoding="utf-8")):
        if obj["apiVersion"] == "serving.knative.dev/v1":
            assert service_validator.is_valid(obj)
            assert_valid_core(as_pod(obj))
        else:
            assert_valid_core(obj)
