"""Errors raised at the event boundary."""


class EventError(ValueError):
    """A malformed event, refused with the field that is wrong and why.

    Attributes:
        field: the column name at fault (e.g. ``selection_time_s``).
        reason: a short human-readable reason.
        index: position of the offending record in its batch, when known.
    """

    def __init__(self, field: str, reason: str, index: int | None = None):
        self.field = field
        self.reason = reason
        self.index = index
        where = f"record {index}: " if index is not None else ""
        super().__init__(f"{where}{field}: {reason}")
