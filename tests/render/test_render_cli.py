"""`sdserve render knative` end to end: the seed's annotation lines byte for byte,
bad specs and bad options answered with the field's name and exit code 2."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from sdserve.cli import main
from tests.render.conftest import REPO, SEED, SHARED

SEED_ANNOTATION_LINES = [
    '    serving.knative.dev.alibabacloud/affinity: "cookie"',
    '    serving.knative.dev.alibabacloud/cookie-name: "sd"',
    '    serving.knative.dev.alibabacloud/cookie-timeout: "1800"',
    "        autoscaling.knative.dev/class: kpa.autoscaling.knative.dev",
    "        autoscaling.knative.dev/maxScale: '10'",
    '        autoscaling.knative.dev/targetUtilizationPercentage: "100"',
    "        k8s.aliyun.com/eci-use-specs: "
    "ecs.gn5-c4g1.xlarge,ecs.gn5i-c8g1.2xlarge,ecs.gn5-c8g1.2xlarge",
]


def test_the_seed_copy_is_the_seed():
    path = SHARED / "seed" / "stable-diffusion.yaml"
    if not path.exists():
        pytest.skip(f"the seed's file is not at {path}")
    assert path.read_text(encoding="utf-8") == SEED


def test_every_annotation_line_of_the_seed_survives_byte_for_byte(render):
    annotation_lines = [line for line in SEED.splitlines()
                        if "/" in line.split(":")[0] and line.startswith("    ")]
    assert annotation_lines == SEED_ANNOTATION_LINES
    code, out, _ = render(SEED, "--image", "registry.example.com/sdserve:0.1.0")
    assert code == 0
    output_lines = out.splitlines()
    for line in annotation_lines:
        assert line in output_lines


def test_output_is_a_multi_document_stream_for_kubectl(render):
    code, out, _ = render(SEED, "--domain", "sd.example.org")
    assert code == 0
    assert out.startswith("# ")
    docs = list(yaml.safe_load_all(out))
    assert [d["kind"] for d in docs] == ["PersistentVolumeClaim", "Service", "ConfigMap"]


@pytest.mark.parametrize(("text", "field"), [
    (SEED.replace("maxScale: '10'", "maxScale: ten"),
     'spec.template.metadata.annotations["autoscaling.knative.dev/maxScale"]'),
    (SEED.replace("containerConcurrency: 1", "containerConcurrency: -1"),
     "spec.template.spec.containerConcurrency"),
    (SEED.replace("containerPort: 7860", "containerPort: 70000"),
     "spec.template.spec.containers[0].ports[0].containerPort"),
    (SEED.replace("      containerConcurrency: 1\n",
                  "      containerConcurrency: 1\n      timeoutSeconds: soon\n"),
     "spec.template.spec.timeoutSeconds"),
    (SEED.replace("        imagePullPolicy: IfNotPresent\n",
                  "        resources: {limits: {nvidia.com/gpu: many}}\n"),
     'resources.limits["nvidia.com/gpu"]'),
    ("kind: [unclosed\n", "(yaml)"),
])
def test_a_bad_spec_names_its_field_and_exits_2(render, text, field):
    code, out, err = render(text)
    assert code == 2
    assert out == ""
    assert field in err


def test_an_unreadable_file_exits_2(tmp_path, capsys):
    assert main(["render", "knative", "-f", str(tmp_path / "missing.yaml")]) == 2
    assert "missing.yaml" in capsys.readouterr().err


@pytest.mark.parametrize(("args", "option"), [
    (["--namespace", "Not_A_Name"], "--namespace"),
    (["--domain", "-bad-.org"], "--domain"),
    (["--models-pvc", "UPPER"], "--models-pvc"),
    (["--models-pvc-size", "lots"], "--models-pvc-size"),
    (["--image", ""], "--image"),
    (["--models-pvc", "m", "--model-in-image"], "--model-in-image"),
])
def test_a_bad_option_names_itself_and_exits_2(render, capsys, args, option):
    with pytest.raises(SystemExit) as exit_info:
        render(SEED, *args)
    assert exit_info.value.code == 2
    assert option in capsys.readouterr().err


def test_a_target_is_required(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["render"])
    assert exit_info.value.code == 2
    assert "knative" in capsys.readouterr().err


@pytest.mark.slow
def test_the_installed_command_reads_stdin_and_prints_manifests():
    result = subprocess.run(
        [sys.executable, "-m", "sdserve", "render", "knative", "-f", "-", "--model-in-image"],
        input=SEED, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert [d["kind"] for d in yaml.safe_load_all(result.stdout)] == ["Service"]
    # The control plane's promise holds here too: rendering never loads torch.
    probe = subprocess.run(
        [sys.executable, "-c", "import sys; from sdserve.cli import main; "
         "main(['render', 'knative', '-f', '-']); assert 'torch' not in sys.modules"],
        input=SEED, capture_output=True, text=True, timeout=60, check=False)
    assert probe.returncode == 0, probe.stderr


def test_the_shipped_example_is_what_render_prints(render):
    example = REPO / "deploy" / "knative" / "stable-diffusion.yaml"
    code, out, _ = render(SEED, "--image", "registry.example.com/sdserve:0.1.0")
    assert code == 0
    def manifest_lines(text: str) -> list[str]:
        return [line for line in text.splitlines() if not line.startswith("#")]

    assert manifest_lines(out) == manifest_lines(example.read_text(encoding="utf-8"))
