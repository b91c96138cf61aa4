"""A revision's progress deadline: how long a replica may take to become ready.

Knative reads `serving.knative.dev/progress-deadline` on the revision template
(pkg/apis/serving/register.go: one spelling, no camelCase) over
config-deployment's `progress-deadline`, and validates the annotation in
pkg/apis/serving/v1/revision_validation.go: a Go duration at second precision.
"""

from __future__ import annotations

from collections.abc import Mapping

from sdserve.spec.annotations import annotation_field, whole_seconds
from sdserve.spec.errors import SpecError
from sdserve.spec.values import read_duration

PROGRESS_DEADLINE_KEY = "serving.knative.dev/progress-deadline"


def read_progress_deadline(annotations: Mapping[str, str], default: float) -> float:
    """Seconds, from the revision template's annotations; `default` when absent."""
    text = annotations.get(PROGRESS_DEADLINE_KEY)
    if text is None:
        return default
    field = annotation_field(PROGRESS_DEADLINE_KEY)
    value = whole_seconds(read_duration)(text, field)
    # Knative's webhook rejects only negative values, but Kubernetes then refuses the
    # Deployment (progressDeadlineSeconds must exceed minReadySeconds, 0): so zero
    # fails on a cluster too, only later. Here it fails at once.
    if value <= 0:
        raise SpecError(field, f'must be positive, got "{text}"')
    return value
