"""The configurable request limits (--max-size, --max-images), as a pure check.

Fixed limits (steps 1..150, multiples of 8) are declared on the schemas; these
depend on the worker's settings, so they are checked after parsing.
"""

from __future__ import annotations

from sdserve.worker.convert import hires_size
from sdserve.worker.schemas import GenerationBody, Txt2ImgBody

# The webui's word for "the first pass's checkpoint"; another checkpoint is not supported.
SAME_CHECKPOINT = "Use same checkpoint"


def limit_violations(
    body: GenerationBody, *, max_size: int, max_images: int
) -> list[tuple[str, str]]:
    """(field, message) for every limit the body exceeds; empty when it is within them."""
    problems = []
    for name in ("width", "height"):
        value = getattr(body, name)
        if value > max_size:
            problems.append((name, f"{name} {value} is above the maximum of {max_size}"))
    images = body.batch_size * body.n_iter
    if images > max_images:
        problems.append(
            (
                "batch_size",
                f"batch_size × n_iter = {images} images is above the maximum of {max_images}",
            )
        )
    if isinstance(body, Txt2ImgBody) and body.enable_hr:
        width, height = hires_size(body)
        if max(width, height) > max_size:
            problems.append(("hr_scale", f"hires fix's size {width}x{height} is above the "
                                         f"maximum of {max_size}"))
        if body.hr_checkpoint_name not in (None, "", SAME_CHECKPOINT):
            problems.append(("hr_checkpoint_name",
                             "a second checkpoint for hires fix is not supported"))
    return problems
