"""Wallet: balances, history, send money (PIN last, receipts by SMS)."""
from menus.wallet.config import FEATURE

__all__ = ["FEATURE"]
