"""Advisor: pick a topic, type a question (or pick a common one); the answer arrives by SMS."""
from menus.advisor.config import FEATURE

__all__ = ["FEATURE"]
