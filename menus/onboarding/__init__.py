"""New users: language, name, PIN twice, then the main menu."""
from menus.onboarding.config import FEATURE

__all__ = ["FEATURE"]
