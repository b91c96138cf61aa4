"""`sdserve serve`: the seed's Knative Service on one machine.

Wires the parts the way Knative does on a cluster: the gateway (ingress +
activator + queue-proxy) measures concurrency, the autoscaler (KPA) decides,
the runtime (pods) acts, and the gateway routes to whatever the runtime
publishes. This process never imports torch; replicas are child processes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import secrets
import shlex
import signal
import sys
from collections.abc import Mapping, Sequence

from aiohttp import web

from sdserve import dashboard
from sdserve.autoscaler import Autoscaler
from sdserve.cli import EXIT_USAGE
from sdserve.gateway import Gateway
from sdserve.runtime import ReplicaSet, visible_devices
from sdserve.runtime.replica import ReplicaState
from sdserve.spec import (
    DEFAULT_DOMAIN,
    ServiceSpec,
    SpecError,
    load_config_overrides,
    load_services,
)

log = logging.getLogger("sdserve.serve")


def configure(parser: argparse.ArgumentParser) -> None:
    env = os.environ.get
    parser.add_argument("-f", "--file", help="Knative Service YAML (default: the seed's service)")
    parser.add_argument("--host", default=env("SDSERVE_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(env("SDSERVE_PORT", "8080")))
    parser.add_argument("--model", default=env("SDSERVE_MODEL", "tiny"),
                        help="folder, .safetensors file, hub id, or 'tiny' (default)")
    parser.add_argument("--models-dir", default=env("SDSERVE_MODELS_DIR"),
                        help="folder of checkpoints every replica lists and can switch to")
    parser.add_argument("--domain", default=env("SDSERVE_DOMAIN", DEFAULT_DOMAIN),
                        help="Host routing domain: {name}.{namespace}.{domain}")
    parser.add_argument("--autoscaler-config", metavar="FILE",
                        help="config-autoscaler ConfigMap (or a plain mapping) over the defaults")
    parser.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                        help="one config-autoscaler key, e.g. --set stable-window=6s (repeatable)")
    parser.add_argument("--worker-command", default=env("SDSERVE_WORKER_COMMAND"),
                        help="run this A1111-compatible server as each replica instead of "
                             "`sdserve worker` (it must honour $PORT and serve /healthz)")
    parser.add_argument("--standby", action=argparse.BooleanOptionalAction, default=None,
                        help="keep one warm `sdserve worker` started, so that a new replica "
                             "pays only its model load (default on, env SDSERVE_STANDBY=0 "
                             "turns it off; never used with --worker-command)")


def worker_command(args: argparse.Namespace) -> list[str]:
    if args.worker_command:
        return shlex.split(args.worker_command)
    command = [sys.executable, "-m", "sdserve", "worker", "--host", "127.0.0.1"]
    command += ["--model", args.model]
    if args.models_dir:
        command += ["--models-dir", args.models_dir]
    return command


STANDBY_ENV = "SDSERVE_STANDBY"


def standby_command(args: argparse.Namespace, env: Mapping[str, str]) -> list[str] | None:
    """The warm standby's command: only for our own worker, whose --standby we know;
    a custom --worker-command gets none. --[no-]standby wins over SDSERVE_STANDBY."""
    enabled = args.standby
    if enabled is None:
        raw = env.get(STANDBY_ENV, "1").strip().lower()
        if raw not in ("0", "1", "false", "true", "no", "yes", "off", "on", ""):
            raise ValueError(f"{STANDBY_ENV}: expected 0 or 1, got {env[STANDBY_ENV]!r}")
        enabled = raw not in ("0", "false", "no", "off")
    if not enabled or args.worker_command:
        return None
    return [*worker_command(args), "--standby"]


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    try:
        overrides = load_config_overrides(args.autoscaler_config, args.sets)
        services = load_services(args.file, overrides=overrides)
    except (SpecError, OSError) as error:
        print(f"sdserve serve: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        args.standby_command = standby_command(args, os.environ)
    except ValueError as error:
        print(f"sdserve serve: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # uvloop is optional off Linux/macOS
        pass
    asyncio.run(serve(services, args))
    return 0


async def serve(services: Sequence[ServiceSpec], args: argparse.Namespace) -> None:
    # Knative's loop: the gateway measures and routes, the autoscaler decides,
    # the replica sets act and publish. Each needs another that is built after
    # it, so those calls are bound late.
    gateway: Gateway
    command = worker_command(args)
    devices = visible_devices()
    replica_sets = {
        spec.name: ReplicaSet(
            spec,
            command=command,
            standby_command=args.standby_command,
            devices=devices,
            on_change=lambda replica: gateway.update_replica(replica),
            in_flight=lambda replica_id: gateway.in_flight(replica_id),
        )
        for spec in services
    }

    def ready_count(service: str) -> int:
        return sum(r.state is ReplicaState.READY for r in replica_sets[service].replicas)

    autoscaler = Autoscaler(
        services,
        concurrency=lambda service, now: gateway.concurrency(service, now),
        ready_count=ready_count,
        scalers=replica_sets,
    )
    gateway = Gateway(
        services,
        domain=args.domain,
        secret=secrets.token_bytes(32),
        poke=autoscaler.poke,
        scale_status=autoscaler,
        standby=lambda service: replica_sets[service].standby,
    )

    app = gateway.app()
    dashboard.add_routes(app)
    # handler_cancellation: a client that hangs up frees its slot and
    # interrupts its job instead of holding both until timeoutSeconds.
    runner = web.AppRunner(app, access_log=None, handle_signals=False, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, args.host, args.port)
    try:
        await site.start()
    except OSError as error:
        await runner.cleanup()
        raise SystemExit(
            f"sdserve serve: cannot listen on {args.host}:{args.port}: {error.strerror}"
        ) from error
    for spec in services:
        log.info("serving %s at http://%s:%d/ (Host: %s)", spec.name, args.host, args.port,
                 spec.host(args.domain))

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    scaling = asyncio.create_task(autoscaler.run())
    try:
        await stop.wait()
    finally:
        log.info("shutting down: draining replicas")
        scaling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await scaling
        await site.stop()
        await asyncio.gather(*(rs.close() for rs in replica_sets.values()))
        await runner.cleanup()
