"""What `knative_manifests` makes of a Service: the worker container, its GPU,
readiness, timeout, models storage, namespace and domain."""

from __future__ import annotations

from typing import Any

import pytest

from sdserve.render import KnativeOptions, ModelsClaim, knative_manifests, load_documents
from sdserve.spec import parse_services
from tests.render.conftest import GPUS_2, MIN_SCALE_1, SECOND_SERVICE, SEED, SEVERAL


def render(text: str, **options: Any) -> list[dict[str, Any]]:
    return knative_manifests(load_documents(text), parse_services(text), KnativeOptions(**options))


def kinds(manifests: list[dict[str, Any]]) -> list[str]:
    return [m["kind"] for m in manifests]


def pod(manifest: dict[str, Any]) -> dict[str, Any]:
    return manifest["spec"]["template"]["spec"]


def the_service(manifests: list[dict[str, Any]], name: str = "stable-diffusion") -> dict[str, Any]:
    return next(m for m in manifests if m["kind"] == "Service" and m["metadata"]["name"] == name)


def test_the_seed_container_becomes_the_worker():
    container = pod(the_service(render(SEED, image="r.example/sdserve:1", model="/models/a")))[
        "containers"][0]
    assert container["name"] == "stable-diffusion"
    assert container["image"] == "r.example/sdserve:1"
    assert container["command"] == ["sdserve", "worker"]
    assert container["args"] == ["--host", "0.0.0.0", "--model", "/models/a",
                                 "--models-dir", "/models"]
    assert container["ports"] == [{"containerPort": 7860, "name": "http1", "protocol": "TCP"}]
    assert container["imagePullPolicy"] == "IfNotPresent"
    assert {"name": "PORT"} not in [{"name": e["name"]} for e in container["env"]]


def test_readiness_waits_for_the_model_with_the_seeds_probe_timing():
    probe = pod(the_service(render(SEED)))["containers"][0]["readinessProbe"]
    assert probe == {"httpGet": {"path": "/healthz", "port": 7860},
                     "initialDelaySeconds": 5, "periodSeconds": 1, "failureThreshold": 3}


def test_concurrency_and_timeout_are_written_so_a_generation_can_finish():
    seed_pod = pod(the_service(render(SEED)))
    assert seed_pod["containerConcurrency"] == 1
    # Knative makes timeoutSeconds the pod's termination grace period.
    assert seed_pod["timeoutSeconds"] == 300
    assert "terminationGracePeriodSeconds" not in seed_pod
    small = pod(the_service(render(SEVERAL), "sd-small"))
    assert (small["containerConcurrency"], small["timeoutSeconds"]) == (2, 600)


@pytest.mark.parametrize(("text", "gpus", "device"), [
    (SEED, 1, "cuda"),
    (GPUS_2, 2, "cuda"),
    (SEED.replace("        imagePullPolicy: IfNotPresent\n",
                  "        resources: {limits: {nvidia.com/gpu: 0}}\n"), 0, "cpu"),
])
def test_one_gpu_per_replica_unless_the_spec_says_otherwise(text, gpus, device):
    container = pod(the_service(render(text)))["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == gpus
    assert {"name": "SDSERVE_DEVICE", "value": device} in container["env"]


def test_other_resources_and_env_are_kept():
    container = pod(the_service(render(GPUS_2)))["containers"][0]
    assert container["resources"]["limits"]["memory"] == "16Gi"
    small = pod(the_service(render(SEVERAL), "sd-small"))["containers"][0]
    assert small["env"][0] == {"name": "SDSERVE_MAX_IMAGES", "value": "4"}
    assert small["name"] == "user-container"
    assert small["ports"] == [{"containerPort": 8080, "name": "http1"}]


def test_a_device_the_user_set_is_kept():
    text = SECOND_SERVICE.replace("        - name: SDSERVE_MAX_IMAGES\n          value: \"4\"\n",
                                  "        - name: SDSERVE_DEVICE\n          value: cuda:1\n")
    env = pod(the_service(render(text), "sd-small"))["containers"][0]["env"]
    assert env == [{"name": "SDSERVE_DEVICE", "value": "cuda:1"}]


def test_annotations_and_metadata_are_kept_as_written():
    source = load_documents(MIN_SCALE_1)[0]
    service = the_service(render(MIN_SCALE_1))
    assert service["metadata"] == source["metadata"]
    assert service["spec"]["template"]["metadata"] == source["spec"]["template"]["metadata"]


def test_the_models_claim_is_mounted_read_only_and_rendered_first():
    manifests = render(SEED, models_claim=ModelsClaim(name="weights", size="50Gi",
                                                      storage_class="nas"))
    assert kinds(manifests) == ["PersistentVolumeClaim", "Service"]
    claim = manifests[0]
    assert claim["metadata"]["name"] == "weights"
    assert claim["spec"] == {"accessModes": ["ReadWriteMany"],
                             "resources": {"requests": {"storage": "50Gi"}},
                             "storageClassName": "nas"}
    revision = pod(manifests[1])
    assert revision["volumes"] == [{"name": "sdserve-models", "persistentVolumeClaim": {
        "claimName": "weights", "readOnly": True}}]
    assert revision["containers"][0]["volumeMounts"] == [
        {"name": "sdserve-models", "mountPath": "/models", "readOnly": True}]


def test_weights_in_the_image_need_no_volume():
    manifests = render(SEED, models_claim=None)
    assert kinds(manifests) == ["Service"]
    revision = pod(manifests[0])
    assert "volumes" not in revision
    assert "volumeMounts" not in revision["containers"][0]
    assert revision["containers"][0]["args"][-2:] == ["--models-dir", "/models"]


def test_several_services_share_one_claim_per_namespace():
    assert kinds(render(SEVERAL)) == ["PersistentVolumeClaim", "Service", "Service"]
    elsewhere = SEVERAL.replace("  name: sd-small\n", "  name: sd-small\n  namespace: team-b\n")
    manifests = render(elsewhere)
    claims = [m for m in manifests if m["kind"] == "PersistentVolumeClaim"]
    assert [c["metadata"].get("namespace") for c in claims] == [None, "team-b"]


def test_namespace_option_moves_every_object():
    manifests = render(SEVERAL, namespace="gpu")
    assert {m["metadata"]["namespace"] for m in manifests} == {"gpu"}
    assert kinds(manifests) == ["PersistentVolumeClaim", "Service", "Service"]


def test_domain_option_renders_knatives_config_domain():
    manifests = render(SEED, domain="sd.example.org")
    assert manifests[-1] == {
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "config-domain", "namespace": "knative-serving"},
        "data": {"sd.example.org": ""},
    }
    assert "ConfigMap" not in kinds(render(SEED))


def test_sidecars_are_kept_and_the_container_with_ports_becomes_the_worker():
    sidecar = SEED.replace("      containers:\n", "      containers:\n"
                           "      - name: log-shipper\n        image: fluent-bit\n")
    containers = pod(the_service(render(sidecar)))["containers"]
    assert containers[0] == {"name": "log-shipper", "image": "fluent-bit"}
    assert containers[1]["command"] == ["sdserve", "worker"]


def test_same_name_in_two_namespaces_renders_each_with_its_own_settings():
    other = SEED.replace("metadata:\n  name: stable-diffusion\n",
                         "metadata:\n  name: stable-diffusion\n  namespace: b\n")
    other = other.replace("containerConcurrency: 1", "containerConcurrency: 4")
    manifests = render(SEED + "---\n" + other)
    pods = [pod(m) for m in manifests if m["kind"] == "Service"]
    assert [p["containerConcurrency"] for p in pods] == [1, 4]


def test_the_users_documents_are_not_changed():
    docs = load_documents(SEED)
    before = repr(docs)
    knative_manifests(docs, parse_services(SEED), KnativeOptions(namespace="x", domain="d.org"))
    assert repr(docs) == before
