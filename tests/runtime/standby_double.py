"""A stand-in for `sdserve worker --standby` that needs no torch: warm at once,
then the sleep worker as the replica it is handed.

`--never-ready`: stays cold. `--hold-until PATH`: once handed over, the replica
opens no port until PATH exists, so a test decides when it gets READY.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from sdserve.testing.sleep_worker import main

HOLD_POLL = 0.05

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--never-ready", action="store_true")
    parser.add_argument("--hold-until", type=Path)
    args = parser.parse_args()
    if args.never_ready:
        time.sleep(600)
    print("ready", flush=True)
    line = sys.stdin.readline()
    if line:
        os.environ.update(json.loads(line)["env"])
        while args.hold_until is not None and not args.hold_until.exists():
            time.sleep(HOLD_POLL)
        main([])
