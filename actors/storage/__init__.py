"""Storage backends behind one interface (`Storage`)."""

from .base import Storage
from .memory import MemoryStorage

__all__ = ["MemoryStorage", "Storage"]
