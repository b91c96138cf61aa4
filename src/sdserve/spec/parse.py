"""Knative `serving.knative.dev/v1` Service YAML → `ServiceSpec`.

Only what the local runtime needs is interpreted; the whole document is kept
in `ServiceSpec.raw` so that rendering for a cluster loses nothing.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from sdserve.spec.annotations import annotations_of, resolve_autoscaling
from sdserve.spec.config import config_from_map
from sdserve.spec.errors import SpecError
from sdserve.spec.probe import parse_probe
from sdserve.spec.progress_deadline import read_progress_deadline
from sdserve.spec.types import DEFAULT_NAMESPACE, Container, CookieAffinity, ServiceSpec
from sdserve.spec.values import read_int

log = logging.getLogger(__name__)

API_VERSION = "serving.knative.dev/v1"
KIND = "Service"
ACK = "serving.knative.dev.alibabacloud/"
GPU_RESOURCE = "nvidia.com/gpu"
# Knative's config-defaults: max-revision-timeout-seconds and container-concurrency-max-limit.
MAX_TIMEOUT_SECONDS = 600
MAX_CONTAINER_CONCURRENCY = 1000
_DNS_LABEL = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
NO_OVERRIDES: Mapping[str, str] = MappingProxyType({})


def _mapping(value: Any, field: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise SpecError(field, f"must be a mapping, got {type(value).__name__}")
    return value


def _list(value: Any, field: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise SpecError(field, f"must be a list, got {type(value).__name__}")
    return value


def _name(metadata: dict[str, Any]) -> str:
    name = metadata.get("name")
    if not isinstance(name, str) or not _DNS_LABEL.fullmatch(name) or len(name) > 63:
        raise SpecError("metadata.name", "must be a DNS label (lowercase letters, digits and "
                                         f"'-', starting with a letter, at most 63), got {name!r}")
    return name


def _affinity(annotations: Mapping[str, str]) -> CookieAffinity | None:
    mode = annotations.get(ACK + "affinity")
    if mode is None:
        return None
    if mode != "cookie":
        raise SpecError(f'metadata.annotations["{ACK}affinity"]',
                        f'must be "cookie", got "{mode}"')
    defaults = CookieAffinity()
    name = annotations.get(ACK + "cookie-name", defaults.cookie_name)
    if not re.fullmatch(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+", name):
        raise SpecError(f'metadata.annotations["{ACK}cookie-name"]',
                        f'must be a cookie name token, got "{name}"')
    timeout = annotations.get(ACK + "cookie-timeout")
    max_age = defaults.max_age if timeout is None else read_int(
        timeout, f'metadata.annotations["{ACK}cookie-timeout"]', minimum=1)
    return CookieAffinity(cookie_name=name, max_age=max_age)


def _env(value: Any, field: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for i, item in enumerate(_list(value, field)):
        entry = _mapping(item, f"{field}[{i}]")
        name = entry.get("name")
        if not isinstance(name, str) or not name:
            raise SpecError(f"{field}[{i}].name", "must be a non-empty string")
        if "valueFrom" in entry:
            log.warning("%s[%d] (%s): valueFrom is not resolved locally; skipped", field, i, name)
            continue
        pairs.append((name, "" if entry.get("value") is None else str(entry["value"])))
    return tuple(pairs)


def _gpus(container: dict[str, Any], field: str) -> int:
    limits = _mapping(_mapping(container.get("resources"), f"{field}.resources").get("limits"),
                      f"{field}.resources.limits")
    value = limits.get(GPU_RESOURCE)
    return 0 if value is None else read_int(
        str(value), f'{field}.resources.limits["{GPU_RESOURCE}"]')


def _strings(value: Any, field: str) -> tuple[str, ...]:
    return tuple(str(item) for item in _list(value, field))


def _container(pod: dict[str, Any]) -> Container:
    containers = _list(pod.get("containers"), "spec.template.spec.containers")
    if not containers:
        raise SpecError("spec.template.spec.containers", "must list at least one container")
    # Knative serves the one container that declares ports (or the only one).
    index = next((i for i, c in enumerate(containers)
                  if isinstance(c, dict) and c.get("ports")), 0)
    field = f"spec.template.spec.containers[{index}]"
    container = _mapping(containers[index], field)
    ports = _list(container.get("ports"), f"{field}.ports")
    port = Container().port
    if ports:
        port_spec = _mapping(ports[0], f"{field}.ports[0]")
        if "containerPort" in port_spec:
            port = read_int(str(port_spec["containerPort"]), f"{field}.ports[0].containerPort",
                            minimum=1)
            if port > 65535:
                raise SpecError(f"{field}.ports[0].containerPort", f"must be <= 65535, got {port}")
    return Container(
        name=str(container.get("name") or Container().name),
        image=str(container.get("image") or ""),
        command=_strings(container.get("command"), f"{field}.command"),
        args=_strings(container.get("args"), f"{field}.args"),
        port=port,
        env=_env(container.get("env"), f"{field}.env"),
        gpus=_gpus(container, field),
        readiness_probe=parse_probe(container.get("readinessProbe"), f"{field}.readinessProbe"),
    )


def _service(document: dict[str, Any], config_overrides: Mapping[str, str]) -> ServiceSpec:
    if document.get("apiVersion") != API_VERSION or document.get("kind") != KIND:
        raise SpecError("kind", f"only {API_VERSION} {KIND} documents are accepted, got "
                                f"{document.get('apiVersion')} {document.get('kind')}")
    metadata = _mapping(document.get("metadata"), "metadata")
    spec = _mapping(document.get("spec"), "spec")
    template = _mapping(spec.get("template"), "spec.template")
    pod = _mapping(template.get("spec"), "spec.template.spec")
    template_annotations = annotations_of(
        _mapping(template.get("metadata"), "spec.template.metadata").get("annotations"),
        "spec.template.metadata.annotations")

    concurrency = 0
    if pod.get("containerConcurrency") is not None:
        concurrency = read_int(str(pod["containerConcurrency"]),
                               "spec.template.spec.containerConcurrency")
        if concurrency > MAX_CONTAINER_CONCURRENCY:
            raise SpecError("spec.template.spec.containerConcurrency",
                            f"must be in [0, {MAX_CONTAINER_CONCURRENCY}], got {concurrency}")
    defaults = ServiceSpec("defaults")
    timeout = defaults.timeout_seconds
    if pod.get("timeoutSeconds") is not None:
        timeout = read_int(str(pod["timeoutSeconds"]), "spec.template.spec.timeoutSeconds",
                           minimum=1)
        if timeout > MAX_TIMEOUT_SECONDS:
            raise SpecError("spec.template.spec.timeoutSeconds",
                            f"must be in [1, {MAX_TIMEOUT_SECONDS}], got {timeout}")
    return ServiceSpec(
        name=_name(metadata),
        namespace=str(metadata.get("namespace") or DEFAULT_NAMESPACE),
        container_concurrency=concurrency,
        timeout_seconds=float(timeout),
        progress_deadline=read_progress_deadline(template_annotations, defaults.progress_deadline),
        autoscaling=resolve_autoscaling(template_annotations, concurrency,
                                        config_from_map(config_overrides)),
        affinity=_affinity(annotations_of(metadata.get("annotations"), "metadata.annotations")),
        container=_container(pod),
        raw=document,
    )


def parse_services(text: str, *, overrides: Mapping[str, str] = NO_OVERRIDES) -> list[ServiceSpec]:
    """Every Service of a (multi-document) YAML text; `overrides` are config-autoscaler keys."""
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as error:
        raise SpecError("(yaml)", f"not valid YAML: {error}") from None
    if not documents:
        raise SpecError("(yaml)", f"no {API_VERSION} {KIND} document found")
    services = []
    for document in documents:
        if not isinstance(document, dict):
            raise SpecError("(yaml)", f"each document must be a mapping, got {document!r}")
        services.append(_service(document, overrides))
    seen: set[tuple[str, str]] = set()
    for service in services:
        if (service.namespace, service.name) in seen:
            raise SpecError("metadata.name", f'duplicate Service "{service.name}" '
                                             f'in namespace "{service.namespace}"')
        seen.add((service.namespace, service.name))
    return services


def seed_text() -> str:
    """The built-in spec: the seed's Knative Service, byte for byte."""
    return resources.files("sdserve.spec").joinpath("seed.yaml").read_text(encoding="utf-8")


def load_services(path: str | Path | None, *,
                  overrides: Mapping[str, str] = NO_OVERRIDES) -> list[ServiceSpec]:
    """Services from a file, or the built-in seed spec when `path` is None."""
    if path is None:
        return parse_services(seed_text(), overrides=overrides)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise SpecError(str(path), f"cannot read spec file: {error}") from None
    return parse_services(text, overrides=overrides)
