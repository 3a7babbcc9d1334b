"""The aggregators we speak, by name: the one list a new aggregator is added to.

Each is switched and configured from settings (USSD_<NAME>_ENABLED, USSD_<NAME>_TOKEN,
USSD_<NAME>_SERVICE_CODES; unset: its `enabled_by_default` (Africa's Talking on, the others off: a webhook
nobody configured must not answer), WEBHOOK_TOKEN, USSD_SERVICE_CODE).
"""
from __future__ import annotations

from enerlectra.settings import AggregatorConfig, Settings
from ussd_app.aggregators.africastalking import AfricasTalking
from ussd_app.aggregators.arkesel import Arkesel
from ussd_app.aggregators.beem import Beem
from ussd_app.aggregators.contract import Aggregator, Config
from ussd_app.aggregators.hubtel import Hubtel
from ussd_app.aggregators.names import NAMES

ADAPTERS: dict[str, type[Aggregator]] = {
    "africastalking": AfricasTalking,
    "beem": Beem,
    "hubtel": Hubtel,
    "arkesel": Arkesel,
}
if tuple(ADAPTERS) != NAMES:            # a new aggregator goes in both (names.py: the CLI reads it alone)
    raise RuntimeError(f"ussd_app/aggregators/names.py lists {NAMES}, registry.py {tuple(ADAPTERS)}")


def config(settings: Settings, name: str) -> Config:
    given = settings.aggregators.get(name, AggregatorConfig())
    enabled = ADAPTERS[name].enabled_by_default if given.enabled is None else given.enabled
    return Config(enabled=enabled, token=given.token or settings.webhook_token,
                  service_codes=given.service_codes or (settings.service_code,))


def enabled(settings: Settings) -> dict[str, Aggregator]:
    """name -> adapter, for the aggregators switched on."""
    built = {name: cls(config(settings, name)) for name, cls in ADAPTERS.items()}
    return {name: adapter for name, adapter in built.items() if adapter.config.enabled}
