"""Text budgets: GSM-7 septets, USSD screens and SMS segments, and fitting free text into them."""
