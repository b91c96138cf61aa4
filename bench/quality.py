"""How often the shapes model draws what it is asked: the match rate over the full
prompt grid (every colour x shape x background, positions cycled through), judged
by the deterministic checker, at each size and seed. Prints a Markdown table.

Goals (issue 9): colour >= 95 %, background >= 95 %, shape >= 85 %, position >= 80 %.
With --cost it also measures one request at A1111's defaults (512x512, 50 steps,
CFG 7) on one thread, in CPU seconds (goal: at most 5 s of one core).

    .venv/bin/python bench/quality.py [--sizes 64 256 512] [--seeds 0 1 2] [--steps 20]
        [--cfg 7] [--model src/sdserve/models/shapes] [--single-file] [--cost]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from sdserve.tinysd.checker import Verdict, check
from sdserve.tinysd.dataset import prompt_grid
from sdserve.tinysd.drawing import SHAPES_DIR, draw, load

ASPECTS = ("colour", "background", "shape", "position")
GOALS = {"colour": 0.95, "background": 0.95, "shape": 0.85, "position": 0.80}


def rates(verdicts: list[Verdict]) -> dict[str, float]:
    """Share right per aspect, over the verdicts that judge it."""
    result = {}
    for aspect in ASPECTS:
        judged = [getattr(v, aspect) for v in verdicts if getattr(v, aspect) is not None]
        result[aspect] = sum(judged) / len(judged) if judged else float("nan")
    return result


def table(rows: dict[int, dict[str, float]], counts: dict[int, int]) -> str:
    lines = [
        "| size | pictures | " + " | ".join(ASPECTS) + " |",
        "| --- | --- | " + " | ".join("---" for _ in ASPECTS) + " |",
    ]
    for size, row in rows.items():
        cells = [f"{row[a]:.0%}{'' if row[a] >= GOALS[a] else ' ✗'}" for a in ASPECTS]
        lines.append(f"| {size} | {counts[size]} | " + " | ".join(cells) + " |")
    lines.append("| goal | | " + " | ".join(f"≥ {GOALS[a]:.0%}" for a in ASPECTS) + " |")
    return "\n".join(lines)


def cpu_seconds_at_defaults(pipe) -> float:
    """CPU time of one 512x512, 50-step, CFG 7 request on one thread (after a warm-up)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    draw(pipe, "a red circle on a white background", size=512, seeds=[0], steps=2)
    start = time.process_time()
    draw(pipe, "a red circle on a white background", size=512, seeds=[0], steps=50, cfg=7.0)
    torch.set_num_threads(threads)
    return time.process_time() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256, 512])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--cfg", type=float, default=7.0)
    parser.add_argument("--model", type=Path, default=SHAPES_DIR)
    parser.add_argument("--single-file", action="store_true", help="load the .safetensors file")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cost", action="store_true", help="also measure a default request")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    single = args.model / "shapes.safetensors" if args.single_file else None
    pipe = load(args.model, single)
    grid = prompt_grid()
    rows, counts = {}, {}
    for size in args.sizes:
        start = time.monotonic()
        verdicts = [
            check(image, caption)
            for caption in grid
            for image in draw(
                pipe, caption.text, size=size, seeds=args.seeds, steps=args.steps, cfg=args.cfg
            )
        ]
        rows[size], counts[size] = rates(verdicts), len(verdicts)
        elapsed = time.monotonic() - start
        print(f"{size} px: {len(verdicts)} pictures in {elapsed:.0f} s", flush=True)
    print(f"\n{len(grid)} prompts x seeds {args.seeds}, {args.steps} steps, CFG {args.cfg}\n")
    print(table(rows, counts))
    if args.cost:
        print(f"\n512x512, 50 steps, CFG 7: {cpu_seconds_at_defaults(pipe):.2f} CPU s (1 thread)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
