"""Mobile money: deposit into and withdraw from the wallet through the user's provider."""
from menus.money.config import FEATURE

__all__ = ["FEATURE"]
