"""`sdserve worker`: run one replica, the AUTOMATIC1111-compatible API server.

Listens at once and loads the model in the background (/healthz: 503, then 200).
Writes only under --data-dir (hub downloads and library caches go there).
SIGTERM stops accepting connections, lets the running job finish (up to
--graceful-timeout), and exits 0. Exits 1 when the model cannot load, so that a
supervisor restarts it; 2 on a bad option.

With --standby it first waits, warm, for the runtime to hand it a replica
identity (worker/standby.py); from then on it is an ordinary worker.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys

from sdserve.cli import EXIT_USAGE
from sdserve.worker import data_dir, standby
from sdserve.worker.settings import ENV_PREFIX, SettingsError, WorkerSettings, resolve_settings

EXIT_LOAD_FAILED = 1


def configure(parser: argparse.ArgumentParser) -> None:
    d = WorkerSettings()
    env = f"(env {ENV_PREFIX}<NAME>)"
    parser.epilog = f"Every option can also be set as {ENV_PREFIX}<OPTION>, e.g. SDSERVE_MODEL."
    parser.add_argument("--host", help=f"address to listen on (default {d.host}) {env}")
    parser.add_argument(
        "--port", type=int, help=f"port (default: $PORT, else {d.port}) {env}"
    )
    parser.add_argument(
        "--model", help=f"tiny, a diffusers folder, a .safetensors file or a hub id "
        f"(default {d.model})"
    )
    parser.add_argument("--models-dir", help="folder of checkpoints to list and switch between")
    parser.add_argument("--device", help=f"cpu, cuda or cuda:N (default {d.device})")
    parser.add_argument("--max-size", type=int, help=f"largest width/height (default {d.max_size})")
    parser.add_argument(
        "--max-images", type=int, help=f"largest batch_size × n_iter (default {d.max_images})"
    )
    parser.add_argument(
        "--max-body-mb", type=float, help=f"largest request body in MiB (default {d.max_body_mb})"
    )
    parser.add_argument(
        "--data-dir",
        help="the only folder the worker writes to: hub downloads, caches "
        "(default $XDG_CACHE_HOME/sdserve, else ~/.cache/sdserve)",
    )
    parser.add_argument(
        "--graceful-timeout",
        type=float,
        help=f"seconds SIGTERM waits for the running job (default {d.graceful_timeout:g})",
    )
    parser.add_argument(
        "--standby",
        action="store_true",
        help="start warm: import everything, print 'ready', then wait for one JSON line on "
        'stdin, {"port": N, "env": {...}}, and serve as that replica (used by sdserve serve)',
    )


def _log_to_stdout() -> None:
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stdout,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )


def run(args: argparse.Namespace) -> int:
    if args.standby:
        try:
            handover = standby.await_identity(vars(args))
        except standby.HandoverError as error:
            print(f"sdserve worker: standby: {error}", file=sys.stderr)
            return EXIT_USAGE
        if handover is None:
            return 0  # the runtime shut down before it needed this replica
        os.environ.update(handover.env)
        print(f"sdserve worker: standby {os.getpid()} is now replica "
              f"{handover.replica or '(unnamed)'} on port {handover.port}", flush=True)
    try:
        settings = resolve_settings(vars(args), os.environ)
    except SettingsError as error:
        print(f"sdserve worker: {error}", file=sys.stderr)
        return EXIT_USAGE
    assert settings.data_dir is not None  # resolve_settings fills it in
    try:
        data_dir.prepare(settings.data_dir)
    except OSError as error:
        print(f"sdserve worker: data_dir: cannot create {settings.data_dir}: {error}",
              file=sys.stderr)
        return EXIT_USAGE
    _log_to_stdout()

    import uvicorn

    from sdserve.worker.app import create_app

    failed: list[BaseException] = []
    server: uvicorn.Server | None = None

    def stop_on_load_failure(error: BaseException) -> None:
        failed.append(error)
        if server is not None:
            server.should_exit = True

    app = create_app(settings, on_load_failed=stop_on_load_failure)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        access_log=False,  # our AccessLog writes one line per request
        log_config=None,
        timeout_graceful_shutdown=settings.graceful_timeout,
    )
    server = uvicorn.Server(config)
    # uvicorn re-raises the signal it shut down on; for SIGTERM that re-raise
    # must mean a clean exit (Knative's drain), not death by signal.
    signal.signal(signal.SIGTERM, lambda *_: None)
    server.run()
    return EXIT_LOAD_FAILED if failed else 0
