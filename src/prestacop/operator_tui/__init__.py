"""The officers' Textual console for human-review alerts (``prestacop console``)."""
