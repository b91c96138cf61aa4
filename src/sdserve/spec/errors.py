"""The one error type of bad spec input: it always names the offending field."""

from __future__ import annotations


class SpecError(ValueError):
    """A spec, annotation or config value that sdserve cannot accept.

    `field` is the path of the offending value, e.g.
    'spec.template.metadata.annotations["autoscaling.knative.dev/maxScale"]'.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
