"""The `sdserve` command: a thin dispatcher over each package's own CLI module.

Subcommands are registered as "module" strings and imported lazily, so that
`sdserve serve` (the gateway process) never imports torch, and `sdserve --help`
stays instant. Each module exposes `configure(parser)` and `run(args) -> int`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from sdserve import __version__

COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("sdserve.serve", "run the Service locally: gateway, autoscaler, replicas"),
    "worker": ("sdserve.worker.cli", "run one replica: the AUTOMATIC1111-compatible API server"),
    "status": ("sdserve.status", "show services and replicas of a running gateway"),
    "render": ("sdserve.render.cli", "render manifests for a cluster (knative)"),
    "autoscaler": ("sdserve.autoscaler.cli", "autoscaler tools (replay recorded load)"),
}

# Exit code for bad input (a bad spec file, a bad flag value), as argparse uses.
EXIT_USAGE = 2


def build_parser(argv: Sequence[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sdserve", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"sdserve {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    wanted = next((a for a in argv if not a.startswith("-")), None)
    for name, (module_name, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        # Only the chosen subcommand's module is imported.
        if name == wanted:
            module = importlib.import_module(module_name)
            module.configure(command)
            command.set_defaults(run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(argv).parse_args(argv)
    return int(args.run(args) or 0)
