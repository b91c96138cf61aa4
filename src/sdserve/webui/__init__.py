"""The browser UI a replica serves at `/`: static files, no build step, no internet needed."""

from sdserve.webui.routes import mount

__all__ = ["mount"]
