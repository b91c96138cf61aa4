"""What can go wrong in the engine, as exception types the worker maps to HTTP codes."""

from __future__ import annotations


class EngineError(Exception):
    """Base of every engine error."""


class InvalidRequest(EngineError, ValueError):
    """A request the engine cannot run; `field` names the request field at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class ModelNotFound(EngineError, LookupError):
    """No model matches the name, path or title given."""


class ModelLoadError(EngineError):
    """The model exists but could not be loaded (bad file, offline hub id, ...)."""
