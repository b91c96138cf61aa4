"""Strings keep the quoting they were written with through a load and a dump."""

from __future__ import annotations

import copy

import yaml

from sdserve.render import dump_documents, load_documents
from tests.render.conftest import SEED


def test_the_seed_round_trips_unchanged():
    assert dump_documents(load_documents(SEED)) == "---\n" + SEED


def test_every_scalar_style_is_kept():
    text = ("a: plain\nb: 'single'\nc: \"double\"\nd: '10'\ne: \"true\"\n"
            "f: |\n  line one\n  line two\ng: 7\nh: true\n")
    assert dump_documents(load_documents(text)) == "---\n" + text


def test_new_strings_are_quoted_only_where_yaml_needs_it():
    out = dump_documents([{"port": "7860", "name": "http1", "flag": "yes", "n": 1}])
    assert out == "---\nport: '7860'\nname: http1\nflag: 'yes'\nn: 1\n"


def test_long_values_are_not_folded_and_shared_objects_not_aliased():
    shared = {"v": "x" * 300}
    out = dump_documents([{"a": shared, "b": shared}])
    assert "&" not in out and "*" not in out
    assert f"  v: {'x' * 300}\n" in out


def test_several_documents_and_empty_ones():
    docs = load_documents("---\na: 1\n---\n---\nb: '2'\n")
    assert docs == [{"a": 1}, {"b": "2"}]
    assert list(yaml.safe_load_all(dump_documents(docs))) == docs


def test_styled_strings_survive_a_deep_copy():
    [doc] = load_documents("a: '10'\n")
    assert dump_documents([copy.deepcopy(doc)]) == "---\na: '10'\n"
