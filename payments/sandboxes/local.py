"""The local mobile-money sandboxes (MTN MoMo, Airtel Money, pawaPay, AzamPay): which to start, and the settings
that point the app at them. Used by `enerlectra serve`, the in-process simulator and the tests, so a
newcomer deposits and withdraws with no credentials. A provider with a base URL configured is left alone.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import AsyncIterator

from enerlectra.ports import free_port
from payments.sandboxes.airtel import FakeAirtel
from payments.sandboxes.azampay import FakeAzamPay
from payments.sandboxes.base import Sandbox, running
from payments.sandboxes.mtn import FakeMtn
from payments.sandboxes.pawapay import FakePawaPay
from payments.setup import callback_url


@dataclass(frozen=True)
class LocalSandbox:
    name: str            # mtn / airtel / pawapay / azampay
    fake: Sandbox
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def plan(settings, auto: bool = False):
    """(settings pointed at the sandboxes, the sandboxes to start). `auto=False`: prompts wait for QA.
    Callbacks go to `settings.public_url`, with the webhook token when one is set."""
    started: list[LocalSandbox] = []
    if settings.mtn_base_url is None:
        mtn = LocalSandbox("mtn", FakeMtn(auto=auto), free_port())
        settings = settings.with_(mtn_base_url=mtn.url, mtn_api_user=mtn.fake.api_user, mtn_api_key=mtn.fake.api_key,
                                  mtn_subscription_key=mtn.fake.subscription_key)
        started.append(mtn)
    if settings.airtel_base_url is None:
        airtel = LocalSandbox("airtel", FakeAirtel(auto=auto, callback_url=callback_url(settings, "airtel")),
                              free_port())
        settings = settings.with_(airtel_base_url=airtel.url, airtel_client_id=airtel.fake.client_id,
                                  airtel_client_secret=airtel.fake.client_secret)
        started.append(airtel)
    if settings.pawapay_base_url is None:
        pawa = LocalSandbox("pawapay", FakePawaPay(auto=auto, callback_url=callback_url(settings, "pawapay")),
                            free_port())
        settings = settings.with_(pawapay_base_url=pawa.url, pawapay_token=pawa.fake.token)
        started.append(pawa)
    if settings.azampay_base_url is None:
        azam = LocalSandbox("azampay", FakeAzamPay(auto=auto, callback_url=callback_url(settings, "azampay")),
                            free_port())
        settings = settings.with_(azampay_base_url=azam.url, azampay_app_name=azam.fake.app_name,
                                  azampay_client_id=azam.fake.client_id,
                                  azampay_client_secret=azam.fake.client_secret)
        started.append(azam)
    return settings, started


@contextlib.asynccontextmanager
async def serving(sandboxes: list[LocalSandbox]) -> AsyncIterator[None]:
    async with contextlib.AsyncExitStack() as stack:
        for box in sandboxes:
            await stack.enter_async_context(running(box.fake, port=box.port))
        yield


# Which settings point at each provider (a provider with no base URL has no client in a process).
PROVIDER_FIELDS = {
    "mtn": ("mtn_base_url", "mtn_api_user", "mtn_api_key", "mtn_subscription_key"),
    "airtel": ("airtel_base_url", "airtel_client_id", "airtel_client_secret"),
    "pawapay": ("pawapay_base_url", "pawapay_token"),
    "azampay": ("azampay_base_url", "azampay_app_name", "azampay_client_id", "azampay_client_secret"),
}


def _record_path(settings):
    return settings.home / "sandboxes.json"


def remember(settings, sandboxes: list[LocalSandbox]) -> None:
    """`serve` writes where its sandboxes listen under ENERLECTRA_HOME, so a worker started on its own (the
    split setup: REDIS_URL set, `enerlectra worker` beside `serve`) reaches the same providers."""
    import json
    import os

    record = {box.name: {f: getattr(settings, f) for f in PROVIDER_FIELDS[box.name]} for box in sandboxes
              if box.name in PROVIDER_FIELDS}
    path = _record_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)      # sandbox credentials: owner only
    with os.fdopen(fd, "w") as f:
        json.dump(record, f)


def forget(settings) -> None:
    _record_path(settings).unlink(missing_ok=True)


def attach(settings):
    """The providers a worker uses, configured as `serve` configured them: the variables set, and for a
    provider without a base URL, the local sandbox the `serve` of this ENERLECTRA_HOME started."""
    import json

    path = _record_path(settings)
    if not path.exists():
        return settings
    try:
        record = json.loads(path.read_text())
    except ValueError:
        return settings
    for name, values in record.items():
        fields = PROVIDER_FIELDS.get(name, ())
        if fields and getattr(settings, fields[0]) is None and isinstance(values, dict):
            settings = settings.with_(**{f: values[f] for f in fields if f in values})
    return settings


def missing(settings) -> list[str]:
    """Providers this process has no client for (their payments wait, one log line each per reconcile)."""
    return [name for name, fields in PROVIDER_FIELDS.items() if getattr(settings, fields[0]) is None]
