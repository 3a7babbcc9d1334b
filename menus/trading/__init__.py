"""Trade energy: sell kWh (escrowed at once), buy at the best prices, my offers, the market, price alerts."""
from menus.trading.config import FEATURE

__all__ = ["FEATURE"]
