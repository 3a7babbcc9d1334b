"""Enerlectra's web service: the USSD engine, adapters, domain services and the CLI."""
