"""YAML that round-trips the user's own strings with the quotes they wrote.

Rendering must keep a Service's annotations byte for byte (`'10'` stays
single-quoted, `"100"` double-quoted, `cookie` plain), so every string read here
remembers its scalar style and is written back in it. Everything else is plain
PyYAML: mappings keep their order, sequences stay indentless as kubectl writes
them, and long values are never folded.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import yaml

STR_TAG = "tag:yaml.org,2002:str"
# Wide enough that no annotation value (ECI spec lists run long) is folded.
LINE_WIDTH = 1 << 16


class StyledStr(str):
    """A string read from YAML, with the scalar style it was written in
    (None for plain, "'", '"', "|" or ">")."""

    __slots__ = ("style",)
    style: str | None

    def __new__(cls, value: str, style: str | None) -> StyledStr:
        text = super().__new__(cls, value)
        text.style = style
        return text

    def __reduce__(self) -> tuple[Any, ...]:
        return (StyledStr, (str(self), self.style))


class _Loader(yaml.SafeLoader):
    pass


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        # Manifests are read by people and by kubectl: no &anchors / *aliases.
        return True


def _construct_styled(loader: _Loader, node: yaml.ScalarNode) -> StyledStr:
    return StyledStr(loader.construct_scalar(node), node.style)


def _represent_styled(dumper: _Dumper, data: StyledStr) -> yaml.ScalarNode:
    return dumper.represent_scalar(STR_TAG, str(data), style=data.style)


_Loader.add_constructor(STR_TAG, _construct_styled)
_Dumper.add_representer(StyledStr, _represent_styled)


def load_documents(text: str) -> list[Any]:
    """Every document of a YAML stream, strings as `StyledStr`; empty documents dropped."""
    return [doc for doc in yaml.load_all(text, Loader=_Loader) if doc is not None]


def dump_documents(documents: Iterable[Any]) -> str:
    """A multi-document stream for `kubectl apply -f -`, each document after `---`."""
    return yaml.dump_all(
        documents,
        Dumper=_Dumper,
        sort_keys=False,
        explicit_start=True,
        allow_unicode=True,
        width=LINE_WIDTH,
    )
