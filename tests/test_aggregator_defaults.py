"""Production defaults: only Africa's Talking answers until an aggregator is switched on
(USSD_<NAME>_ENABLED=1): a webhook nobody configured must not answer. The simulator enables the one it
speaks."""
from __future__ import annotations

import pytest

from enerlectra.settings import Settings
from simulator.transport import switched_on
from ussd_app.aggregators import registry

CASES = [  # (environment, the aggregators that answer)
    ({}, {"africastalking"}),
    ({"USSD_BEEM_ENABLED": "1"}, {"africastalking", "beem"}),
    ({"USSD_HUBTEL_ENABLED": "yes", "USSD_ARKESEL_ENABLED": "1"}, {"africastalking", "hubtel", "arkesel"}),
    ({"USSD_AFRICASTALKING_ENABLED": "0", "USSD_BEEM_ENABLED": "1"}, {"beem"}),
    ({"USSD_BEEM_TOKEN": "t", "USSD_BEEM_SERVICE_CODES": "*150*00#"}, {"africastalking"}),   # not on
    ({"USSD_BEEM_ENABLED": "0"}, {"africastalking"}),
]


@pytest.mark.parametrize("env,answering", CASES)
def test_which_aggregators_answer(env, answering):
    assert set(registry.enabled(Settings.from_env(env))) == answering


@pytest.mark.parametrize("name", sorted(registry.ADAPTERS))
def test_the_simulator_switches_on_the_aggregator_it_speaks_keeping_its_token(name):
    settings = switched_on(Settings.from_env({f"USSD_{name.upper()}_TOKEN": "tok"}), name)
    adapter = registry.enabled(settings)[name]
    assert adapter.config.token == "tok"
