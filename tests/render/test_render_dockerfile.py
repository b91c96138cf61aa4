"""The worker image's Dockerfile, checked as far as a machine without a Docker
engine can: it parses, its base and torch are the CUDA builds of the pinned
release, what it copies exists and is sent, and its entrypoint is our worker."""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
from importlib import metadata

import pytest

from sdserve.cli import COMMANDS
from sdserve.spec import parse_services
from tests.render.conftest import REPO, SEED

INSTRUCTIONS = {"ARG", "FROM", "ENV", "RUN", "COPY", "USER", "WORKDIR", "EXPOSE", "ENTRYPOINT",
                "CMD", "LABEL", "ADD", "VOLUME", "HEALTHCHECK", "SHELL", "STOPSIGNAL", "ONBUILD"}


def parse_dockerfile(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order; comments dropped, continuations joined."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.lstrip().startswith("#"):
            continue  # a comment inside a continued instruction
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        keyword, _, arguments = pending.strip().partition(" ")
        instructions.append((keyword.upper(), " ".join(arguments.split())))
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    return instructions


@pytest.fixture(scope="module")
def dockerfile() -> list[tuple[str, str]]:
    return parse_dockerfile((REPO / "Dockerfile").read_text(encoding="utf-8"))


def arguments_of(dockerfile: list[tuple[str, str]], keyword: str) -> list[str]:
    return [arguments for kw, arguments in dockerfile if kw == keyword]


def build_args(dockerfile: list[tuple[str, str]]) -> dict[str, str]:
    return dict(arg.split("=", 1) for arg in arguments_of(dockerfile, "ARG"))


def expand(text: str, variables: dict[str, str]) -> str:
    return re.sub(r"\$\{(\w+)\}", lambda m: variables[m.group(1)], text)


def env_of(dockerfile: list[tuple[str, str]]) -> dict[str, str]:
    return dict(pair.split("=", 1) for env in arguments_of(dockerfile, "ENV")
                for pair in shlex.split(env))


def test_every_line_is_a_known_instruction(dockerfile):
    assert {keyword for keyword, _ in dockerfile} <= INSTRUCTIONS
    assert dockerfile[0][0] in {"ARG", "FROM"}


def test_the_base_is_a_cuda_runtime_image_matching_the_torch_build(dockerfile):
    args = build_args(dockerfile)
    [base] = [expand(a, args) for a in arguments_of(dockerfile, "FROM")]
    match = re.fullmatch(r"nvidia/cuda:(\d+)\.(\d+)\.\d+-runtime-ubuntu[\d.]+", base)
    assert match, base
    index = args["TORCH_INDEX"]
    assert index == f"https://download.pytorch.org/whl/cu{match[1]}{match[2]}"


def test_torch_is_the_pinned_release_from_the_pytorch_index(dockerfile):
    [pin] = [d for d in metadata.requires("sdserve") if d.startswith("torch==")]
    installs = [run for run in arguments_of(dockerfile, "RUN") if pin in run.split()]
    assert installs == [f"pip install {pin} --index-url ${{TORCH_INDEX}}"]
    runs = arguments_of(dockerfile, "RUN")
    assert runs.index(installs[0]) < runs.index("pip install /tmp/sdserve && rm -rf /tmp/sdserve")


def test_copied_sources_exist_and_are_sent_to_the_builder(dockerfile):
    ignore = (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
    sent = {line[1:].rstrip("/") for line in ignore if line.startswith("!")}
    for copy in arguments_of(dockerfile, "COPY"):
        *sources, _destination = copy.split()
        for source in sources:
            assert (REPO / source).exists(), source
            assert source.rstrip("/") in sent, f"{source} is excluded by .dockerignore"


def test_the_entrypoint_is_the_installed_worker_command(dockerfile):
    [entrypoint] = arguments_of(dockerfile, "ENTRYPOINT")
    script, subcommand = json.loads(entrypoint)
    [console_script] = metadata.entry_points(group="console_scripts", name=script)
    assert console_script.value == "sdserve.cli:main"
    module, _help = COMMANDS[subcommand]
    assert importlib.util.find_spec(module) is not None


def test_it_runs_as_a_numeric_non_root_user(dockerfile):
    [user] = arguments_of(dockerfile, "USER")
    assert user.isdigit() and int(user) != 0  # numeric, so runAsNonRoot can verify it


def test_port_data_dir_and_offline_start(dockerfile):
    assert arguments_of(dockerfile, "EXPOSE") == [str(parse_services(SEED)[0].container.port)]
    env = env_of(dockerfile)
    assert env["SDSERVE_DATA_DIR"] == "/data"
    assert env["HF_HUB_OFFLINE"] == "1"
    assert env["HF_HOME"].startswith("/data/")


def test_the_parser_reads_continuations_and_comments():
    text = "# c\nFROM a\nRUN one \\\n  # note\n  && two\n\nENV A=1 \\\n    B=2\n"
    assert parse_dockerfile(text) == [("FROM", "a"), ("RUN", "one && two"), ("ENV", "A=1 B=2")]
