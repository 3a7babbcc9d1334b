"""Africa's Talking USSD moved behind the aggregator contract: ussd_app/aggregators/africastalking.py.
Kept for the names other modules import from here."""
from ussd_app.aggregators.africastalking import _form, events, parse_cost  # noqa: F401
