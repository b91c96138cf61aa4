"""The process runtime: replicas as local child processes (Knative's pod lifecycle)."""

from sdserve.runtime.devices import visible_devices
from sdserve.runtime.replica import Replica, ReplicaState
from sdserve.runtime.replica_set import ReplicaSet

__all__ = ["Replica", "ReplicaSet", "ReplicaState", "visible_devices"]
