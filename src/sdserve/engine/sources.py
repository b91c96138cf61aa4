"""Where a model comes from: shipped tiny models, a models dir, a path, or a hub id.

`find` turns the `--model` / `sd_model_checkpoint` string into a `Source`;
`scan` lists the checkpoints of a models dir as A1111 titles ("name [hash10]").
"""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sdserve.engine.errors import ModelNotFound
from sdserve.engine.types import ModelInfo

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "models"
DEFAULT_MODEL = "tiny"
SINGLE_FILE_SUFFIX = ".safetensors"
PIPELINE_INDEX = "model_index.json"
SHORT_HASH = 10
_CHUNK = 1 << 20

Kind = Literal["folder", "file", "hub"]


@dataclass(frozen=True)
class Source:
    kind: Kind
    location: str  # a path for folders and files, the repo id for the hub
    info: ModelInfo


def is_pipeline_folder(path: Path) -> bool:
    return (path / PIPELINE_INDEX).is_file()


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class Hasher:
    """sha256 of checkpoint files, remembered per (path, size, mtime): big files hash slowly
    (1.5 s for SD 1.5's 2 GB). Thread-safe; `start` hashes in the background."""

    def __init__(self) -> None:
        self._known: dict[tuple[str, int, int], Future[str]] = {}
        self._lock = threading.Lock()

    def sha256(self, path: Path) -> str:
        return self._digest(path, background=False).result()

    def start(self, path: Path) -> None:
        """Begin hashing now on a thread of its own; a later `sha256` waits for it.

        hashlib and file reads release the GIL, so a worker that starts this before
        importing torch gets the hash for free on a second core.
        """
        self._digest(path, background=True)

    def _digest(self, path: Path, *, background: bool) -> Future[str]:
        stat = path.stat()
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        with self._lock:
            known = self._known.get(key)
            if known is not None:
                return known
            future: Future[str] = Future()
            self._known[key] = future
        if background:
            threading.Thread(target=self._compute, args=(path, future), daemon=True,
                             name="sha256").start()
        else:
            self._compute(path, future)
        return future

    @staticmethod
    def _compute(path: Path, future: Future[str]) -> None:
        try:
            future.set_result(_file_sha256(path))
        except BaseException as error:  # the waiter re-raises it
            future.set_exception(error)


# One per process: the worker starts hashing its model before the engine exists.
HASHER = Hasher()


def start_hashing(model: str) -> None:
    """Hash `model` in the background if it names a single-file checkpoint."""
    path = Path(model).expanduser()
    if path.suffix == SINGLE_FILE_SUFFIX and path.is_file():
        HASHER.start(path)


def file_info(path: Path, hasher: Hasher, name: str | None = None) -> ModelInfo:
    sha = hasher.sha256(path)
    name = name or path.stem
    return ModelInfo(
        title=f"{name} [{sha[:SHORT_HASH]}]", model_name=name, hash=sha[:SHORT_HASH],
        sha256=sha, filename=str(path),
    )


def folder_info(path: Path, hasher: Hasher, name: str | None = None) -> ModelInfo:
    name = name or path.name
    # A folder that also carries its single-file twin (the shipped tiny models) has a hash.
    twins = sorted(path.glob("*" + SINGLE_FILE_SUFFIX))
    if twins:
        sha = hasher.sha256(twins[0])
        return ModelInfo(
            title=f"{name} [{sha[:SHORT_HASH]}]", model_name=name, hash=sha[:SHORT_HASH],
            sha256=sha, filename=str(path),
        )
    return ModelInfo(title=name, model_name=name, hash=None, sha256=None, filename=str(path))


def hub_info(repo_id: str) -> ModelInfo:
    return ModelInfo(title=repo_id, model_name=repo_id, hash=None, sha256=None, filename=repo_id)


def shipped(hasher: Hasher) -> list[Source]:
    folders = sorted(p for p in SHIPPED_DIR.iterdir() if is_pipeline_folder(p))
    return [Source("folder", str(p), folder_info(p, hasher)) for p in folders]


def scan(models_dir: Path | None, hasher: Hasher) -> list[Source]:
    """Every single-file checkpoint and diffusers folder in models_dir (recursively for files)."""
    if models_dir is None or not models_dir.is_dir():
        return []
    found: list[Source] = []
    for path in sorted(models_dir.rglob("*")):
        relative = path.relative_to(models_dir)
        name = str(relative.with_suffix("")) if path.is_file() else str(relative)
        if path.is_file() and path.suffix == SINGLE_FILE_SUFFIX:
            if is_pipeline_folder(path.parent) and path.parent != models_dir:
                continue  # the twin of a folder listed on its own
            found.append(Source("file", str(path), file_info(path, hasher, name)))
        elif path.is_dir() and is_pipeline_folder(path):
            found.append(Source("folder", str(path), folder_info(path, hasher, name)))
    return found


def _looks_like_hub_id(text: str) -> bool:
    parts = text.split("/")
    return len(parts) == 2 and all(parts) and not text.startswith((".", "~"))


def find(model: str, known: list[Source], hasher: Hasher) -> Source:
    """Resolve a model string: a known title/name/filename, a path, then a hub id."""
    for source in known:
        info = source.info
        if model in (info.title, info.model_name, info.filename, info.hash):
            return source
    path = Path(model).expanduser()
    if path.is_dir() and is_pipeline_folder(path):
        return Source("folder", str(path), folder_info(path, hasher))
    if path.is_file() and path.suffix == SINGLE_FILE_SUFFIX:
        return Source("file", str(path), file_info(path, hasher))
    if path.exists():
        raise ModelNotFound(
            f"{model!r} is neither a diffusers folder (with {PIPELINE_INDEX}) "
            f"nor a {SINGLE_FILE_SUFFIX} checkpoint"
        )
    if _looks_like_hub_id(model):
        return Source("hub", model, hub_info(model))
    titles = ", ".join(s.info.title for s in known)
    raise ModelNotFound(f"no model {model!r}; known: {titles}")
