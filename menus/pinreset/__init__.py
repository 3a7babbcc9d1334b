"""A PIN reset support issued: the user's next dial chooses a new PIN here before anything else."""
from menus.pinreset.config import FEATURE

__all__ = ["FEATURE"]
