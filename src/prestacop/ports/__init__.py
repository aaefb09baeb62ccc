"""Ports: the types and Protocols that services and adapters share, below both.

Adapters implement them and services depend on them; neither imports the other's
modules for them (an import-linter contract in ``pyproject.toml`` checks it).
"""
