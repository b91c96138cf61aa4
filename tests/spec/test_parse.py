from pathlib import Path

import pytest
import yaml

from sdserve.spec import (
    Autoscaling,
    CookieAffinity,
    Probe,
    SpecError,
    load_services,
    parse_services,
)
from sdserve.spec.parse import seed_text

SEED = Path("/work/shared/seed/stable-diffusion.yaml")
KEY = "autoscaling.knative.dev/"


def service_yaml(annotations=None, pod=None, metadata=None, container=None) -> str:
    document = {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": "svc", **(metadata or {})},
        "spec": {"template": {
            "metadata": {"annotations": annotations or {}},
            "spec": {"containers": [{"image": "img", **(container or {})}], **(pod or {})},
        }},
    }
    return yaml.safe_dump(document)


def one(text: str, **kwargs):
    (service,) = parse_services(text, **kwargs)
    return service


def test_builtin_spec_is_the_seed_byte_for_byte():
    if SEED.exists():
        assert seed_text() == SEED.read_text(encoding="utf-8")
    assert "stable-diffusion" in seed_text()


def test_seed_parses_to_the_expected_settings():
    (service,) = load_services(None)
    assert service.name == "stable-diffusion"
    assert service.namespace == "default"
    assert service.host() == "stable-diffusion.default.example.com"
    assert service.container_concurrency == 1
    assert service.timeout_seconds == 300.0
    assert service.affinity == CookieAffinity(cookie_name="sd", max_age=1800)
    scaling = service.autoscaling
    assert scaling.autoscaler_class == "kpa.autoscaling.knative.dev"
    assert scaling.target == 1.0
    assert scaling.target_utilization_percentage == 100.0
    assert scaling.target_value == 1.0
    assert scaling.max_scale == 10
    assert scaling.min_scale == 0
    assert scaling.initial_scale == 1
    assert scaling.stable_window == 60.0
    assert scaling.panic_window == 6.0
    assert scaling.panic_threshold_percentage == 200.0
    assert scaling.scale_to_zero_grace_period == 30.0
    assert scaling.target_burst_capacity == 211.0
    assert scaling.tick_interval == 2.0
    container = service.container
    assert container.name == "stable-diffusion"
    assert container.port == 7860
    assert container.command == ("python3", "launch.py")
    assert container.args == ("--listen", "--skip-torch-cuda-test", "--api")
    assert container.gpus == 0
    assert container.readiness_probe == Probe(kind="tcp", port=7860, initial_delay=5.0,
                                              period=1.0, failure_threshold=3)
    assert service.raw["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"]


def test_seed_file_from_disk_equals_builtin(tmp_path):
    path = tmp_path / "seed.yaml"
    path.write_text(seed_text(), encoding="utf-8")
    assert load_services(path) == load_services(None)


def test_overrides_shorten_the_seed_windows():
    (service,) = load_services(None, overrides={"stable-window": "6s",
                                                "scale-to-zero-grace-period": "4s",
                                                "tick-interval": "0.5s"})
    assert service.autoscaling.stable_window == 6.0
    assert service.autoscaling.scale_to_zero_grace_period == 4.0
    assert service.autoscaling.tick_interval == 0.5
    assert service.autoscaling.max_scale == 10  # the annotation still wins over config


def test_defaults_without_annotations():
    service = one(service_yaml())
    assert service.container_concurrency == 0
    assert service.autoscaling == Autoscaling()
    assert service.affinity is None
    assert service.container.port == 8080
    assert service.container.readiness_probe is None


def test_kebab_case_wins_over_camel_case():
    scaling = one(service_yaml({KEY + "maxScale": "3", KEY + "max-scale": "7",
                                KEY + "minScale": "2"})).autoscaling
    assert scaling.max_scale == 7
    assert scaling.min_scale == 2


def test_every_annotation_is_read():
    scaling = one(service_yaml({
        KEY + "target": "5", KEY + "target-utilization-percentage": "80",
        KEY + "window": "2m", KEY + "panic-window-percentage": "20",
        KEY + "panic-threshold-percentage": "300", KEY + "min-scale": "1",
        KEY + "max-scale": "9", KEY + "initial-scale": "2", KEY + "activation-scale": "3",
        KEY + "scale-down-delay": "30s", KEY + "target-burst-capacity": "-1",
        KEY + "scale-to-zero-pod-retention-period": "1m", KEY + "metric": "concurrency",
        KEY + "metric-aggregation-algorithm": "linear",
    })).autoscaling
    assert (scaling.target, scaling.target_utilization_percentage) == (5.0, 80.0)
    assert scaling.stable_window == 120.0
    assert scaling.panic_window == 24.0
    assert scaling.panic_threshold_percentage == 300.0
    assert (scaling.min_scale, scaling.max_scale, scaling.initial_scale) == (1, 9, 2)
    assert scaling.activation_scale == 3
    assert scaling.scale_down_delay == 30.0
    assert scaling.target_burst_capacity == -1
    assert scaling.scale_to_zero_pod_retention_period == 60.0


def test_target_is_capped_by_container_concurrency():
    scaling = one(service_yaml({KEY + "target": "5"}, pod={"containerConcurrency": 2})).autoscaling
    assert scaling.target == 2.0
    assert one(service_yaml(pod={"containerConcurrency": 4})).autoscaling.target == 4.0


def test_unknown_autoscaling_annotation_warns(caplog):
    service = one(service_yaml({KEY + "max-scael": "3", "other.io/x": "y"}))
    assert service.autoscaling.max_scale == 0
    assert "max-scael" in caplog.text
    assert "other.io" not in caplog.text


@pytest.mark.parametrize(("annotation", "value", "message"), [
    ("maxScale", "ten", "must be an integer >= 0, got \"ten\""),
    ("min-scale", "-1", "integer >= 0"),
    ("window", "5s", "must be in"),
    ("window", "61500ms", "second precision"),
    ("window", "60", "duration"),
    ("target-utilization-percentage", "0", "must be in"),
    ("targetUtilizationPercentage", "101", "must be in"),
    ("panic-window-percentage", "0.5", "must be in"),
    ("panic-threshold-percentage", "100", "must be in"),
    ("target", "0", "at least"),
    ("target-burst-capacity", "-2", "-1"),
    ("scale-down-delay", "2h", "must be in"),
    ("scale-to-zero-pod-retention-period", "-1s", "must be in"),
    ("activation-scale", "1", "greater than 1"),
    ("initial-scale", "0", "not allowed"),
    ("class", "foo.knative.dev", "kpa"),
    ("metric", "latency", "concurrency"),
    ("metric-aggregation-algorithm", "median", "linear"),
])
def test_invalid_annotation_names_its_field(annotation, value, message):
    with pytest.raises(SpecError) as error:
        parse_services(service_yaml({KEY + annotation: value}))
    field = f'spec.template.metadata.annotations["{KEY}{annotation}"]'
    assert error.value.field == field
    assert message in str(error.value)
    assert str(error.value).startswith(field + ": ")


PROGRESS_DEADLINE = "serving.knative.dev/progress-deadline"


@pytest.mark.parametrize(("value", "want"), [
    (None, 600.0),  # config-deployment's default
    ("45s", 45.0),
    ("1m30s", 90.0),
    ("1000ms", 1.0),
    ("2h", 7200.0),
])
def test_progress_deadline_annotation(value, want):
    annotations = {} if value is None else {PROGRESS_DEADLINE: value}
    assert one(service_yaml(annotations)).progress_deadline == want


@pytest.mark.parametrize(("value", "message"), [
    ("600", "duration"),  # Go's time.ParseDuration wants a unit
    ("soon", "duration"),
    ("", "duration"),
    ("1.5s", "second precision"),
    ("500ms", "second precision"),
    ("-5s", "must be positive"),
    ("0s", "must be positive"),
])
def test_invalid_progress_deadline_names_its_field(value, message):
    with pytest.raises(SpecError) as error:
        parse_services(service_yaml({PROGRESS_DEADLINE: value}))
    assert error.value.field == f'spec.template.metadata.annotations["{PROGRESS_DEADLINE}"]'
    assert message in str(error.value)


def test_max_below_min_names_max_scale():
    with pytest.raises(SpecError) as error:
        parse_services(service_yaml({KEY + "minScale": "5", KEY + "maxScale": "2"}))
    assert error.value.field.endswith('["autoscaling.knative.dev/maxScale"]')


def test_activation_scale_within_min_and_max():
    with pytest.raises(SpecError, match="max-scale=2 is less than activation-scale=3"):
        parse_services(service_yaml({KEY + "max-scale": "2", KEY + "activation-scale": "3"}))
    with pytest.raises(SpecError, match="min-scale=4 is greater"):
        parse_services(service_yaml({KEY + "min-scale": "4", KEY + "activation-scale": "3"}))


def test_max_scale_limit_from_config():
    with pytest.raises(SpecError, match="max-scale-limit"):
        parse_services(service_yaml({KEY + "max-scale": "20"}),
                       overrides={"max-scale-limit": "10", "max-scale": "5"})


def test_container_fields():
    service = one(service_yaml(
        pod={"containerConcurrency": 2, "timeoutSeconds": 60},
        container={"name": "sd", "ports": [{"containerPort": 7860}],
                   "env": [{"name": "A", "value": "1"}, {"name": "B"},
                           {"name": "S", "valueFrom": {"secretKeyRef": {"name": "x"}}}],
                   "resources": {"limits": {"nvidia.com/gpu": "1"}},
                   "readinessProbe": {"httpGet": {"path": "/healthz", "port": 7860},
                                      "periodSeconds": 2}}))
    assert service.container_concurrency == 2
    assert service.timeout_seconds == 60.0
    assert service.container.name == "sd"
    assert service.container.env == (("A", "1"), ("B", ""))
    assert service.container.gpus == 1
    assert service.container.readiness_probe == Probe(kind="http", port=7860, path="/healthz",
                                                      period=2.0)


@pytest.mark.parametrize(("pod", "container", "field"), [
    ({"containerConcurrency": -1}, {}, "spec.template.spec.containerConcurrency"),
    ({"containerConcurrency": 1001}, {}, "spec.template.spec.containerConcurrency"),
    ({"timeoutSeconds": "soon"}, {}, "spec.template.spec.timeoutSeconds"),
    ({"timeoutSeconds": 601}, {}, "spec.template.spec.timeoutSeconds"),
    ({}, {"ports": [{"containerPort": 70000}]}, "spec.template.spec.containers[0].ports[0]"
                                                ".containerPort"),
    ({}, {"resources": {"limits": {"nvidia.com/gpu": "two"}}},
     'spec.template.spec.containers[0].resources.limits["nvidia.com/gpu"]'),
    ({}, {"readinessProbe": {"exec": {"command": ["true"]}}},
     "spec.template.spec.containers[0].readinessProbe"),
    ({}, {"readinessProbe": {"tcpSocket": {"port": 1}, "periodSeconds": -1}},
     "spec.template.spec.containers[0].readinessProbe.periodSeconds"),
    ({}, {"env": [{"value": "x"}]}, "spec.template.spec.containers[0].env[0].name"),
])
def test_invalid_pod_fields_name_their_field(pod, container, field):
    with pytest.raises(SpecError) as error:
        parse_services(service_yaml(pod=pod, container=container))
    assert error.value.field == field


def test_no_containers_is_an_error():
    text = service_yaml().replace("- image: img", "[]").replace("containers:\n", "containers: ")
    with pytest.raises(SpecError, match="containers"):
        parse_services(text)


@pytest.mark.parametrize(("annotations", "message"), [
    ({"serving.knative.dev.alibabacloud/affinity": "ip"}, 'must be "cookie"'),
    ({"serving.knative.dev.alibabacloud/affinity": "cookie",
      "serving.knative.dev.alibabacloud/cookie-timeout": "soon"}, "cookie-timeout"),
    ({"serving.knative.dev.alibabacloud/affinity": "cookie",
      "serving.knative.dev.alibabacloud/cookie-name": "a b"}, "cookie-name"),
])
def test_invalid_affinity(annotations, message):
    with pytest.raises(SpecError, match=message):
        parse_services(service_yaml(metadata={"annotations": annotations}))


def test_multi_document_yaml():
    text = service_yaml() + "---\n" + service_yaml(metadata={"name": "other"}) + "---\n"
    assert [s.name for s in parse_services(text)] == ["svc", "other"]
    with pytest.raises(SpecError, match="duplicate"):
        parse_services(service_yaml() + "---\n" + service_yaml())


@pytest.mark.parametrize(("text", "field"), [
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n", "kind"),
    ("apiVersion: serving.knative.dev/v1alpha1\nkind: Service\n", "kind"),
    ("", "(yaml)"),
    ("a: [1,\n", "(yaml)"),
    ("- 1\n", "(yaml)"),
])
def test_not_a_service(text, field):
    with pytest.raises(SpecError) as error:
        parse_services(text)
    assert error.value.field == field


@pytest.mark.parametrize("name", ["Stable", "1abc", "a_b", "x" * 64, None])
def test_bad_names(name):
    text = service_yaml().replace("name: svc", f"name: {name!r}" if name else "name: null")
    with pytest.raises(SpecError) as error:
        parse_services(text)
    assert error.value.field == "metadata.name"


def test_missing_file_is_a_spec_error(tmp_path):
    with pytest.raises(SpecError, match="cannot read"):
        load_services(tmp_path / "nope.yaml")
