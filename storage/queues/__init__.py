"""Job queues: one interface, one module per backend."""

from storage.queues.base import Message, Queue

__all__ = ["Message", "Queue"]
