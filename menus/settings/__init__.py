"""Settings: change language, change PIN (with the old PIN)."""
from menus.settings.config import FEATURE

__all__ = ["FEATURE"]
