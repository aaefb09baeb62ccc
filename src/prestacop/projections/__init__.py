"""Read models of the log in PostgreSQL: the runner, the built-in views, analysts' own.

Write a projection by subclassing :class:`Projection` (see ``docs/projections.md``).
"""

from prestacop.projections.api import Batch, Envelope, Projection

__all__ = ["Batch", "Envelope", "Projection"]
