"""The gateway: Host routing, cookie affinity, per-replica slots with a FIFO
queue, and the /-/ admin paths (Knative's ingress + activator + queue-proxy)."""

from sdserve.gateway.breaker import Breaker, QueueFull
from sdserve.gateway.gateway import UNTHROTTLED, Gateway, ScaleStatus

__all__ = ["UNTHROTTLED", "Breaker", "Gateway", "QueueFull", "ScaleStatus"]
