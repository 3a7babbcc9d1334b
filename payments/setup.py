"""Build the providers and the Payments service from settings (web app and workers alike)."""
from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import aiohttp

from enerlectra.domain.settlements import LISTENERS
from payments.providers.airtel import AirtelMoney
from payments.providers.azampay import AzamPay
from payments.providers.mtn import MtnMomo
from payments.providers.pawapay import PawaPay
from payments.service import Limits, Payments, parse_fees


def callback_url(settings, provider: str) -> str:
    """Where `provider` calls back: the webhook token rides in the path, where our access log masks it
    (ussd_app.access_log), not in a query string."""
    url = f"{settings.public_url}/payments/{provider}/callback"
    return f"{url}/{quote(settings.webhook_token, safe='')}" if settings.webhook_token else url


def pem_text(value: str) -> str:
    """AZAMPAY_PUBLIC_KEY holds the PEM itself or the path of a file holding it."""
    if not value or "BEGIN" in value:
        return value
    return Path(value).read_text()


def build(settings, db, http: aiohttp.ClientSession, db_read=None) -> Payments:
    """Payments on `db`: its units of work hand their SMS to the job sink bound to it (enerlectra/domain/work.py);
    reads that decide nothing go to `db_read` when given."""
    providers = {}
    if settings.mtn_base_url:
        providers["mtn"] = MtnMomo(http, settings.mtn_base_url, settings.mtn_api_user, settings.mtn_api_key,
                                   settings.mtn_subscription_key, settings.mtn_target_env,
                                   callback_url(settings, "mtn"))
    if settings.airtel_base_url:
        providers["airtel"] = AirtelMoney(http, settings.airtel_base_url, settings.airtel_client_id,
                                          settings.airtel_client_secret, settings.airtel_callback_key,
                                          settings.airtel_disbursement_pin)
    if settings.pawapay_base_url:
        providers["pawapay"] = PawaPay(http, settings.pawapay_base_url, settings.pawapay_token)
    if settings.azampay_base_url:
        providers["azampay"] = AzamPay(http, settings.azampay_auth_url or settings.azampay_base_url,
                                       settings.azampay_base_url, settings.azampay_app_name,
                                       settings.azampay_client_id, settings.azampay_client_secret,
                                       settings.azampay_api_key, pem_text(settings.azampay_public_key))
    payments = Payments(db, providers, parse_fees(settings.payment_fees),
                        limits=Limits.from_settings(settings),
                        db_read=db_read)
    payments.listeners.update(LISTENERS)
    return payments
