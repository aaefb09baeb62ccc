"""The NYPD history translator: ticket files replayed as drone events."""
