"""What the alert feed tells the console, as Textual messages (posted from the feed's task)."""

from __future__ import annotations

from textual.message import Message

from prestacop.alerts.ports import FeedItem, FeedState


class FeedItemArrived(Message):
    """An item of the alert stream, pushed by the feed."""

    def __init__(self, item: FeedItem) -> None:
        super().__init__()
        self.item = item


class FeedStateChanged(Message):
    """The feed connected, is reading missed alerts, is live, or lost the server."""

    def __init__(self, state: FeedState) -> None:
        super().__init__()
        self.state = state
