"""Manifests that run a Service on a cluster; Knative Serving is the one target."""

from sdserve.render.knative import KnativeOptions, ModelsClaim, knative_manifests
from sdserve.render.verbatim_yaml import dump_documents, load_documents

__all__ = ["KnativeOptions", "ModelsClaim", "dump_documents", "knative_manifests", "load_documents"]
