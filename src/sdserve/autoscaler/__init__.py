"""The KPA: a pure decision (`kpa.decide`), its windows, and the loop that drives it."""

from sdserve.autoscaler.kpa import Decision, KpaState, decide, initial_state
from sdserve.autoscaler.loop import Autoscaler, Scaler

__all__ = ["Autoscaler", "Decision", "KpaState", "Scaler", "decide", "initial_state"]
