"""Power-bank rentals (issue 20): tariff.py holds the prices and times per currency, billing.py the pure rules
that turn a rental's times into an itemized bill and its reminders, texts.py what a renter reads."""
