"""PrestaCop: an event-sourced backend for parking-enforcement drones."""

__version__ = "0.1.0"
