"""The main menu: one line per installed feature that has a title."""
from menus.main.config import build

__all__ = ["build"]
