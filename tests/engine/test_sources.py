import hashlib
import threading

import pytest

from sdserve.engine import sources


def test_background_hash_equals_hashlib(tmp_path):
    path = tmp_path / "model.safetensors"
    path.write_bytes(bytes(range(256)) * 10_000)
    hasher = sources.Hasher()
    hasher.start(path)
    assert hasher.sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_file_is_hashed_once_however_many_ask(tmp_path, monkeypatch):
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"weights")
    calls = []
    real = sources._file_sha256
    monkeypatch.setattr(sources, "_file_sha256", lambda p: calls.append(p) or real(p))
    hasher = sources.Hasher()
    hasher.start(path)
    threads = [threading.Thread(target=hasher.sha256, args=(path,)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert hasher.sha256(path) == hashlib.sha256(b"weights").hexdigest()
    assert calls == [path]


def test_a_changed_file_is_hashed_again(tmp_path):
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"one")
    hasher = sources.Hasher()
    first = hasher.sha256(path)
    path.write_bytes(b"other")
    assert hasher.sha256(path) != first


def test_a_failed_background_hash_raises_for_the_waiter(tmp_path, monkeypatch):
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"x")

    def unreadable(p):
        raise PermissionError(f"cannot read {p}")

    monkeypatch.setattr(sources, "_file_sha256", unreadable)
    hasher = sources.Hasher()
    hasher.start(path)
    with pytest.raises(PermissionError, match="cannot read"):
        hasher.sha256(path)


def test_start_hashing_only_for_single_files(tmp_path, monkeypatch):
    started = []
    monkeypatch.setattr(sources.HASHER, "start", started.append)
    (tmp_path / "model.safetensors").write_bytes(b"x")
    (tmp_path / "notes.txt").write_bytes(b"x")
    for model in ("tiny", "org/repo", str(tmp_path), str(tmp_path / "notes.txt"),
                  str(tmp_path / "missing.safetensors"), str(tmp_path / "model.safetensors")):
        sources.start_hashing(model)
    assert started == [tmp_path / "model.safetensors"]
