"""`sdserve render TARGET`: manifests that run the same Service on a cluster.

One target today, `knative`; each target is a sub-subcommand with its own options.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path

from sdserve import __version__
from sdserve.cli import EXIT_USAGE
from sdserve.render.knative import (
    DEFAULT_CLAIM_NAME,
    DEFAULT_CLAIM_SIZE,
    DEFAULT_IMAGE,
    DEFAULT_MODEL,
    KnativeOptions,
    ModelsClaim,
    knative_manifests,
)
from sdserve.render.verbatim_yaml import dump_documents, load_documents
from sdserve.spec import SpecError, parse_services

# Kubernetes name grammars (RFC 1123 label / subdomain) and resource quantities.
_LABEL_TEXT = r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?"
_LABEL = re.compile(rf"^{_LABEL_TEXT}$")
_SUBDOMAIN = re.compile(rf"^(?=.{{1,253}}$){_LABEL_TEXT}(\.{_LABEL_TEXT})*$")
_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")


def _matching(pattern: re.Pattern[str], what: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if not pattern.match(value):
            raise argparse.ArgumentTypeError(f"must be {what}, got {value!r}")
        return value

    check.__name__ = what  # argparse names the type in its messages
    return check


def _non_empty(value: str) -> str:
    if not value.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return value


def configure(parser: argparse.ArgumentParser) -> None:
    targets = parser.add_subparsers(title="targets", required=True)
    knative = targets.add_parser(
        "knative",
        help="Knative Services running `sdserve worker` (for kubectl apply -f -)",
        description="Print the manifests that run the Service(s) of FILE on Knative Serving: "
        "each Service with its annotations as written and `sdserve worker` as its "
        "container, plus the models volume. Pipe into `kubectl apply -f -`.",
    )
    knative.add_argument("-f", "--file", required=True, metavar="FILE",
                         help="Knative Service YAML, one or more documents ('-' for stdin)")
    knative.add_argument("--image", type=_non_empty, default=DEFAULT_IMAGE,
                         help=f"the sdserve image to run (default: {DEFAULT_IMAGE})")
    knative.add_argument("--model", type=_non_empty, default=DEFAULT_MODEL,
                         help="the worker's --model: a path under /models, or a hub id cached "
                         f"in the image (default: {DEFAULT_MODEL})")
    knative.add_argument("--namespace", type=_matching(_LABEL, "a Kubernetes namespace name"),
                         help="namespace of every object (default: as the file says, else "
                         "kubectl's current namespace)")
    knative.add_argument("--domain", type=_matching(_SUBDOMAIN, "a DNS domain"),
                         help="also render Knative's config-domain with this default domain, "
                         "so Services answer at {name}.{namespace}.DOMAIN")
    storage = knative.add_mutually_exclusive_group()
    storage.add_argument("--models-pvc", metavar="NAME", default=DEFAULT_CLAIM_NAME,
                         type=_matching(_SUBDOMAIN, "a Kubernetes object name"),
                         help="PersistentVolumeClaim holding the checkpoints, mounted read-only "
                         f"at /models (default: {DEFAULT_CLAIM_NAME})")
    storage.add_argument("--model-in-image", action="store_true",
                         help="the weights are baked into the image under /models: no volume")
    knative.add_argument("--models-pvc-size", metavar="SIZE", default=DEFAULT_CLAIM_SIZE,
                         type=_matching(_QUANTITY, "a storage quantity such as 20Gi"),
                         help=f"requested size of the claim (default: {DEFAULT_CLAIM_SIZE})")
    knative.add_argument("--storage-class", metavar="CLASS",
                         type=_matching(_SUBDOMAIN, "a StorageClass name"),
                         help="StorageClass of the claim; it must offer ReadWriteMany "
                         "(NAS/NFS); default: the cluster's default class")
    knative.set_defaults(render=render_knative)


def run(args: argparse.Namespace) -> int:
    return args.render(args)


def render_knative(args: argparse.Namespace) -> int:
    try:
        text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
        specs = parse_services(text)
    except (OSError, UnicodeDecodeError) as error:
        print(f"sdserve render knative: -f {args.file}: cannot read: {error}", file=sys.stderr)
        return EXIT_USAGE
    except SpecError as error:
        print(f"sdserve render knative: {args.file}: {error}", file=sys.stderr)
        return EXIT_USAGE
    claim = None if args.model_in_image else ModelsClaim(
        name=args.models_pvc, size=args.models_pvc_size, storage_class=args.storage_class)
    options = KnativeOptions(image=args.image, model=args.model, namespace=args.namespace,
                             domain=args.domain, models_claim=claim)
    manifests = knative_manifests(load_documents(text), specs, options)
    sys.stdout.write(_header(args.file, claim) + dump_documents(manifests))
    return 0


def _header(source: str, claim: ModelsClaim | None) -> str:
    lines = [f"# Rendered by sdserve {__version__} from {source}; apply with: kubectl apply -f -"]
    if claim is not None:
        lines.append("# The models volume needs Knative's PVC support enabled once per cluster "
                     "(docs/knative.md, 'Enable volumes').")
    return "".join(f"{line}\n" for line in lines)
