"""The pure core: events, subjects, codes and validation. Standard library and msgspec only."""
