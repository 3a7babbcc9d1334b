"""USSD aggregators behind one contract (contract.py), one module each, named in registry.py."""
