"""Charge: rent a power bank at a station, see and extend the rental, report it lost, find a station."""
from menus.rentals.config import FEATURE

__all__ = ["FEATURE"]
