"""The energy market: a price-time priority order book per currency, in SQL, settled in the ledger.

matching.py is the pure heart (tested on its own); rules.py holds the configured price and lot rules;
book.py places, fills, cancels and expires orders inside SQL transactions; data.py computes what
screens and SMS show, in SQL.
"""
