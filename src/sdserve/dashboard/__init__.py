"""The operators' live dashboard the gateway serves at `/-/dashboard`."""

from sdserve.dashboard.routes import add_routes

__all__ = ["add_routes"]
