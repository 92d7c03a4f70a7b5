"""arrears — post-loan operations for online lenders.

The pure core (money, calendar, book.*) has no I/O; services and shells wrap it.
See docs/architecture.md for the layers.
"""

__version__ = "0.1.0"
