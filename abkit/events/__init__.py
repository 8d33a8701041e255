"""The event store: the contract every stage shares (see DESIGN.md, "Events")."""

from abkit.events.engine import connect
from abkit.events.errors import EventError
from abkit.events.schema import metadata
from abkit.events.store import EventStore, WriteResult

__all__ = ["EventError", "EventStore", "WriteResult", "connect", "metadata"]
