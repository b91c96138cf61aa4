"""A stand-in for `sdserve worker --standby` that needs no torch: warm at once,
then the sleep worker as the replica it is handed (`--never-ready`: stays cold)."""

from __future__ import annotations

import json
import os
import sys
import time

from sdserve.testing.sleep_worker import main

if __name__ == "__main__":
    if "--never-ready" in sys.argv:
        time.sleep(600)
    print("ready", flush=True)
    line = sys.stdin.readline()
    if line:
        os.environ.update(json.loads(line)["env"])
        main([])
