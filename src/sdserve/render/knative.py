"""Knative manifests that run `sdserve worker` replicas, from a Service as the user wrote it.

Pure: documents and their parsed settings in, manifests out. The user's document
is kept as it is (every annotation and field, in its order and quoting) except
the serving container, which becomes the worker, plus what the worker needs on a
cluster: a GPU, readiness on /healthz, and its models volume.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sdserve import __version__
from sdserve.spec import ServiceSpec

DEFAULT_IMAGE = f"sdserve:{__version__}"
# Where the worker finds checkpoints: the claim's mount, or the image's own folder.
MODELS_DIR = "/models"
DEFAULT_MODEL = f"{MODELS_DIR}/v1-5-pruned-emaonly.safetensors"
DEFAULT_CLAIM_NAME = "sdserve-models"
DEFAULT_CLAIM_SIZE = "20Gi"
MODELS_VOLUME = "sdserve-models"
WORKER_COMMAND = ("sdserve", "worker")
GPU_RESOURCE = "nvidia.com/gpu"
# The worker's device setting; the local runtime sets it per replica, here the pod's GPU.
DEVICE_ENV = "SDSERVE_DEVICE"
READINESS_PATH = "/healthz"
# Knative's system namespace, where its cluster-wide ConfigMaps live.
KNATIVE_SERVING_NAMESPACE = "knative-serving"
# The probe timing the user chose is kept; only the handler changes.
PROBE_TIMING_KEYS = (
    "initialDelaySeconds",
    "periodSeconds",
    "timeoutSeconds",
    "successThreshold",
    "failureThreshold",
)
LABELS = {"app.kubernetes.io/part-of": "sdserve"}


@dataclass(frozen=True)
class ModelsClaim:
    """A PersistentVolumeClaim that holds the checkpoints, mounted read-only at /models."""

    name: str = DEFAULT_CLAIM_NAME
    size: str = DEFAULT_CLAIM_SIZE
    storage_class: str | None = None  # None = the cluster's default class


@dataclass(frozen=True)
class KnativeOptions:
    image: str = DEFAULT_IMAGE
    model: str = DEFAULT_MODEL
    namespace: str | None = None  # None = as the document says, else kubectl's current one
    domain: str | None = None  # None = leave Knative's config-domain alone
    # None: the weights are baked into the image under /models.
    models_claim: ModelsClaim | None = field(default_factory=ModelsClaim)


def knative_manifests(
    documents: Sequence[Mapping[str, Any]], specs: Sequence[ServiceSpec], options: KnativeOptions
) -> list[dict[str, Any]]:
    """Every manifest to apply, in apply order: claims, the Services, cluster config.

    `documents` are the file's Service documents as read (see `load_documents`),
    `specs` the same documents parsed, in the same order.
    """
    services = [render_service(doc, spec, options)
                for doc, spec in zip(documents, specs, strict=True)]
    claims: list[dict[str, Any]] = []
    if options.models_claim is not None:
        namespaces = dict.fromkeys(namespace_of(service) for service in services)
        claims = [claim_manifest(options.models_claim, ns) for ns in namespaces]
    cluster = [domain_config(options.domain)] if options.domain else []
    return [*claims, *services, *cluster]


def namespace_of(doc: Mapping[str, Any]) -> str | None:
    return doc.get("metadata", {}).get("namespace")


def render_service(
    doc: Mapping[str, Any], spec: ServiceSpec, options: KnativeOptions
) -> dict[str, Any]:
    metadata = dict(doc["metadata"])
    if options.namespace:
        metadata["namespace"] = options.namespace
    template = dict(doc["spec"]["template"])
    template["spec"] = revision_spec(template.get("spec", {}), spec, options)
    return {**doc, "metadata": metadata, "spec": {**doc["spec"], "template": template}}


def revision_spec(
    pod: Mapping[str, Any], spec: ServiceSpec, options: KnativeOptions
) -> dict[str, Any]:
    """The revision's pod spec with its serving container turned into the worker.

    Knative gives the pod a termination grace period equal to timeoutSeconds (it
    rejects one set by hand), so writing timeoutSeconds is what lets a running
    generation finish when its replica is scaled down.
    """
    revision = dict(pod)
    revision.setdefault("containerConcurrency", spec.container_concurrency)
    revision.setdefault("timeoutSeconds", int(spec.timeout_seconds))
    containers = list(revision.get("containers") or [{}])
    serving = serving_index(containers)
    containers[serving] = worker_container(containers[serving], spec, options)
    revision["containers"] = containers
    if options.models_claim is not None:
        volume = {
            "name": MODELS_VOLUME,
            "persistentVolumeClaim": {"claimName": options.models_claim.name, "readOnly": True},
        }
        revision["volumes"] = [*revision.get("volumes", []), volume]
    return revision


def serving_index(containers: Sequence[Mapping[str, Any]]) -> int:
    """Knative's serving container is the one that declares ports (the only one, else)."""
    return next((i for i, c in enumerate(containers) if c.get("ports")), 0)


def worker_container(
    container: Mapping[str, Any], spec: ServiceSpec, options: KnativeOptions
) -> dict[str, Any]:
    port = spec.container.port
    worker = dict(container)
    worker.setdefault("name", spec.container.name)  # Knative's own default name
    worker["image"] = options.image
    worker["command"] = list(WORKER_COMMAND)
    # The port comes from $PORT, which Knative sets to the containerPort.
    worker["args"] = ["--host", "0.0.0.0", "--model", options.model, "--models-dir", MODELS_DIR]
    worker.setdefault("ports", [{"containerPort": port, "name": "http1"}])
    worker["resources"] = with_gpu_limit(container.get("resources") or {})
    worker["env"] = with_device(container.get("env") or [], worker["resources"]["limits"])
    worker["readinessProbe"] = readiness_probe(container.get("readinessProbe") or {}, port)
    if options.models_claim is not None:
        mount = {"name": MODELS_VOLUME, "mountPath": MODELS_DIR, "readOnly": True}
        worker["volumeMounts"] = [*container.get("volumeMounts", []), mount]
    return worker


def with_gpu_limit(resources: Mapping[str, Any]) -> dict[str, Any]:
    """One GPU per replica unless the document asks for a count of its own."""
    limits = dict(resources.get("limits") or {})
    limits.setdefault(GPU_RESOURCE, 1)
    return {**resources, "limits": limits}


def with_device(env: Sequence[Mapping[str, Any]], limits: Mapping[str, Any]) -> list[Any]:
    """The GPU the pod is given (Kubernetes exposes it as cuda:0), unless the env names one."""
    if any(entry.get("name") == DEVICE_ENV for entry in env):
        return list(env)
    device = "cuda" if int(str(limits[GPU_RESOURCE])) > 0 else "cpu"
    return [*env, {"name": DEVICE_ENV, "value": device}]


def readiness_probe(written: Mapping[str, Any], port: int) -> dict[str, Any]:
    """Ready only once /healthz answers 200, i.e. the model is loaded: an open
    port alone would let traffic in while the weights are still loading."""
    probe: dict[str, Any] = {"httpGet": {"path": READINESS_PATH, "port": port}}
    probe.update({key: written[key] for key in PROBE_TIMING_KEYS if key in written})
    return probe


def claim_manifest(claim: ModelsClaim, namespace: str | None) -> dict[str, Any]:
    """The checkpoints' volume. ReadWriteMany: a loader pod writes the weights once,
    and every replica, on whichever GPU node it lands, mounts them read-only."""
    metadata: dict[str, Any] = {"name": claim.name, "labels": dict(LABELS)}
    if namespace:
        metadata["namespace"] = namespace
    claim_spec: dict[str, Any] = {
        "accessModes": ["ReadWriteMany"],
        "resources": {"requests": {"storage": claim.size}},
    }
    if claim.storage_class:
        claim_spec["storageClassName"] = claim.storage_class
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": metadata,
        "spec": claim_spec,
    }


def domain_config(domain: str) -> dict[str, Any]:
    """Knative's config-domain with `domain` as the default: Services get
    {name}.{namespace}.{domain}. Cluster-wide; merged into the existing ConfigMap."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "config-domain", "namespace": KNATIVE_SERVING_NAMESPACE},
        "data": {domain: ""},
    }
