"""Mobile money in and out: providers (one module each), the payment lifecycle, and settlement.

The web app and workers reach this through `payments.service.Payments`; domain code never imports a
provider module.
"""
