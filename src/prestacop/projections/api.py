"""What a projection is, for analysts: ``from prestacop.projections.api import Projection``.

The types live in ``prestacop.ports.projection`` (below the adapters that store
them); this module is their public name and stays it.
"""

from prestacop.ports.projection import LOG_STREAMS, Batch, Envelope, Projection

__all__ = ["LOG_STREAMS", "Batch", "Envelope", "Projection"]
