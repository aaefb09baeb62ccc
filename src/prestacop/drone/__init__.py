"""The Python drone SDK: what a drone's onboard software calls."""

from prestacop.drone.client import DroneClient, InvalidMessage

__all__ = ["DroneClient", "InvalidMessage"]
