"""The seed's Service, variants of it as users would write them, and the schemas
the rendered manifests must pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from sdserve.cli import main
from sdserve.spec.parse import seed_text

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
CRD_PATH = SHARED / "knative" / "service-crd.yaml"

# The built-in spec, which the spec package keeps equal to the seed byte for byte.
SEED = seed_text()

NO_AFFINITY = SEED.replace(
    """  annotations:
    serving.knative.dev.alibabacloud/affinity: "cookie"
    serving.knative.dev.alibabacloud/cookie-name: "sd"
    serving.knative.dev.alibabacloud/cookie-timeout: "1800"
""",
    "",
)

GPUS_2 = SEED.replace(
    "        imagePullPolicy: IfNotPresent\n",
    "        imagePullPolicy: IfNotPresent\n"
    "        resources:\n"
    "          limits:\n"
    "            nvidia.com/gpu: 2\n"
    "            memory: 16Gi\n",
)

MIN_SCALE_1 = SEED.replace(
    "        autoscaling.knative.dev/maxScale: '10'\n",
    "        autoscaling.knative.dev/maxScale: '10'\n"
    '        autoscaling.knative.dev/min-scale: "1"\n',
)

SECOND_SERVICE = """\
apiVersion: serving.knative.dev/v1
kind: Service
metadata:
  name: sd-small
spec:
  template:
    metadata:
      annotations:
        autoscaling.knative.dev/max-scale: "3"
    spec:
      containerConcurrency: 2
      timeoutSeconds: 600
      containers:
      - image: placeholder
        env:
        - name: SDSERVE_MAX_IMAGES
          value: "4"
"""

SEVERAL = SEED + "---\n" + SECOND_SERVICE

VARIANTS = {
    "seed": SEED,
    "no-affinity": NO_AFFINITY,
    "gpus-2": GPUS_2,
    "min-scale-1": MIN_SCALE_1,
    "several-services": SEVERAL,
}


@pytest.fixture(scope="session")
def crd_schema_path() -> Path:
    if not CRD_PATH.exists():
        pytest.skip(f"Knative Service CRD not found at {CRD_PATH} "
                    "(the shared folder beside the repository)")
    return CRD_PATH


@pytest.fixture
def render(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """Run `sdserve render knative -f <text as a file> ARGS...` in-process:
    (exit code, stdout, stderr)."""

    def run(text: str, *args: str) -> tuple[int, str, str]:
        spec_file = tmp_path / "service.yaml"
        spec_file.write_text(text, encoding="utf-8")
        code = main(["render", "knative", "-f", str(spec_file), *args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run
