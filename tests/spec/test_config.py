from dataclasses import fields
from pathlib import Path

import pytest
import yaml

from sdserve.spec.config import (
    CONFIG_KEYS,
    AutoscalerConfig,
    config_from_map,
    load_config_overrides,
)
from sdserve.spec.errors import SpecError

# Knative's config/core/configmaps/autoscaler.yaml, as shipped.
KNATIVE_CONFIG = Path(__file__).parent / "data" / "config-autoscaler.yaml"


def test_every_config_field_has_a_reader():
    assert {f.name.replace("_", "-") for f in fields(AutoscalerConfig)} == CONFIG_KEYS


def test_knatives_shipped_example_equals_our_defaults():
    document = yaml.safe_load(KNATIVE_CONFIG.read_text(encoding="utf-8"))
    example = yaml.safe_load(document["data"]["_example"])
    shared = {key: str(value) for key, value in example.items() if key in CONFIG_KEYS}
    assert len(shared) >= 18  # every key Knative ships, except our own tick-interval
    assert config_from_map(shared) == AutoscalerConfig()


def test_empty_map_is_the_defaults():
    assert config_from_map({}) == AutoscalerConfig()


def test_reader_takes_kebab_keys():
    config = config_from_map({"stable-window": "6s", "scale-to-zero-grace-period": "4s",
                              "tick-interval": "0.5s", "enable-scale-to-zero": "false",
                              "container-concurrency-target-percentage": "0.5",
                              "max-scale": "3"})
    assert config.stable_window == 6.0
    assert config.scale_to_zero_grace_period == 4.0
    assert config.tick_interval == 0.5
    assert config.enable_scale_to_zero is False
    assert config.container_concurrency_target_percentage == 50.0
    assert config.max_scale == 3


def test_unknown_key_is_logged_not_fatal(caplog):
    assert config_from_map({"stable-windw": "6s"}) == AutoscalerConfig()
    assert "stable-windw" in caplog.text


@pytest.mark.parametrize(("key", "value"), [
    ("stable-window", "5s"), ("stable-window", "2h"), ("stable-window", "6500ms"),
    ("scale-to-zero-grace-period", "0s"), ("max-scale-up-rate", "1"),
    ("max-scale-down-rate", "0.5"), ("panic-window-percentage", "0.5"),
    ("panic-threshold-percentage", "100"), ("target-burst-capacity", "-2"),
    ("initial-scale", "0"), ("min-scale", "-1"), ("scale-down-delay", "1500ms"),
    ("max-scale", "ten"), ("tick-interval", "0s"), ("enable-scale-to-zero", "maybe"),
])
def test_invalid_values_name_the_key(key, value):
    with pytest.raises(SpecError) as error:
        config_from_map({key: value})
    assert error.value.field == f'config-autoscaler["{key}"]'


def test_min_scale_above_max_scale_is_rejected():
    with pytest.raises(SpecError, match="min-scale"):
        config_from_map({"min-scale": "3", "max-scale": "2"})


def test_zero_initial_scale_needs_the_cluster_switch():
    config = config_from_map({"initial-scale": "0", "allow-zero-initial-scale": "true"})
    assert config.initial_scale == 0


def test_load_config_overrides_reads_configmap_then_sets(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap",
                                    "metadata": {"name": "config-autoscaler"},
                                    "data": {"stable-window": "6s",
                                             "enable-scale-to-zero": True}}))
    overrides = load_config_overrides(str(path), ["scale-to-zero-grace-period=4s",
                                                  "stable-window=10s"])
    assert overrides == {"stable-window": "10s", "enable-scale-to-zero": "true",
                         "scale-to-zero-grace-period": "4s"}


def test_load_config_overrides_reads_a_plain_mapping(tmp_path):
    path = tmp_path / "plain.yaml"
    path.write_text("tick-interval: 0.5s\nmax-scale: 4\n")
    assert load_config_overrides(str(path), []) == {"tick-interval": "0.5s", "max-scale": "4"}


def test_load_config_overrides_errors_name_the_input(tmp_path):
    with pytest.raises(SpecError, match="--set"):
        load_config_overrides(None, ["stable-window"])
    with pytest.raises(SpecError) as error:
        load_config_overrides(None, ["stable-window=1s"])
    assert error.value.field == 'config-autoscaler["stable-window"]'
    with pytest.raises(SpecError, match="cannot read"):
        load_config_overrides(str(tmp_path / "missing.yaml"), [])
    (tmp_path / "list.yaml").write_text("- a\n")
    with pytest.raises(SpecError, match="mapping"):
        load_config_overrides(str(tmp_path / "list.yaml"), [])
