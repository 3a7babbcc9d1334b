"""Mobile money providers and the payment lifecycle (arrives with the mobile-money issue)."""
