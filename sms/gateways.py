"""Outbound SMS gateways. Each sends one text to a batch of numbers and reports per number.

- AfricasTalkingGateway: the real `africastalking` SDK, its base URL pointed where settings say, its requests
  over one kept-alive connection per sending thread (KeptAliveSMS).
- LocalGateway: the embedded default; records only (the outbox row is the record, plus a log line).

A gateway is built once per worker process and called from several sending threads at once.
"""
from __future__ import annotations

import json
import logging
import os
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import requests
from africastalking.Service import AfricasTalkingException, validate_phone
from africastalking.SMS import SMSService

log = logging.getLogger(__name__)

SENT, FAILED, RETRY = "sent", "failed", "retry"

# Africa's Talking per-recipient statusCode -> what we do (protocols.md section 2).
AT_STATUS: dict[int, tuple[str, str]] = {
    100: (SENT, "Processed"), 101: (SENT, "Sent"), 102: (SENT, "Queued"),
    401: (FAILED, "RiskHold"), 402: (FAILED, "InvalidSenderId"), 403: (FAILED, "InvalidPhoneNumber"),
    404: (FAILED, "UnsupportedNumberType"), 405: (RETRY, "InsufficientBalance"),
    406: (FAILED, "UserInBlacklist"), 407: (FAILED, "CouldNotRoute"), 409: (FAILED, "DoNotDisturbRejection"),
    500: (RETRY, "InternalServerError"), 501: (RETRY, "GatewayError"), 502: (FAILED, "RejectedByGateway"),
}


@dataclass(frozen=True)
class Delivery:
    """What the gateway said about one number."""

    msisdn: str
    outcome: str                        # sent / failed / retry
    message_id: str | None = None
    cost: str | None = None
    status_code: int | None = None
    reason: str | None = None


class GatewayError(Exception):
    """The whole request failed (network, 401, 5xx): nothing is known to be sent; try again later."""


class Gateway(Protocol):
    name: str

    def send(self, body: str, recipients: list[str]) -> list[Delivery]: ...


class KeptAliveSMS(SMSService):
    """The SDK's SMSService, its POSTs over one `requests.Session` per thread.

    SDK 2.0.3 posts with the module-level `requests.post`: a new session, a new TCP connection (and TLS
    handshake against AT) for every message, which cost more than the rest of a send. Everything else
    (the form, the headers, the reply handling, its errors) stays the SDK's: only its private POST helper
    (`Service.__make_post_request`, name-mangled) is replaced. tests/test_sms_drain.py checks that the SDK
    still calls it (one connection for many messages); with a newer SDK that renamed it we would fall back
    to a connection per message, slower but correct.
    """

    def __init__(self, username: str, api_key: str):
        self._local = threading.local()       # a Session is not promised to be thread-safe: one per thread
        super().__init__(username, api_key)

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = self._new_session()
        return session

    def _new_session(self) -> requests.Session:
        """The environment (HTTPS_PROXY / NO_PROXY, REQUESTS_CA_BUNDLE) read once, not per request: with
        `trust_env` requests also looks for ~/.netrc on every call, a tenth of a send's CPU (py-spy), and a
        netrc login would only add a Basic header AT ignores (it authenticates by the apiKey header)."""
        session = requests.Session()
        session.proxies = requests.utils.get_environ_proxies(self._baseUrl)
        session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
        session.trust_env = False
        return session

    def _Service__make_post_request(self, url, headers, data, params, callback=None, timeout=None):  # noqa: N802
        response = self._session().post(url=url, headers=headers, params=params, data=data, timeout=timeout)
        if callback is None or callback == {}:
            return response
        callback(response)


class AfricasTalkingGateway:
    name = "africastalking"

    def __init__(self, username: str, api_key: str, sender_id: str | None = None, base_url: str | None = None,
                 timeout: tuple[float, float] = (3.05, 9.05)):
        self.service = KeptAliveSMS(username, api_key)
        if base_url:    # the SDK hard-codes its hosts; this is the documented one-line override
            self.service._baseUrl = self.service._contentUrl = base_url.rstrip("/") + "/version1"
        self.sender_id = sender_id
        self.timeout = timeout

    def send(self, body: str, recipients: list[str]) -> list[Delivery]:
        bad = [n for n in recipients if not validate_phone(n)]
        if bad:        # the SDK raises ValueError for the whole request: those fail, the others go
            good = [n for n in recipients if n not in bad]
            sent = {d.msisdn: d for d in (self.send(body, good) if good else [])}
            return [sent.get(n) or Delivery(n, FAILED, status_code=403, reason="InvalidPhoneNumber")
                    for n in recipients]
        try:
            raw = self.service.send(body, recipients, sender_id=self.sender_id, timeout=self.timeout)
        except AfricasTalkingException as exc:          # non-2xx: 401 text/plain, 5xx
            raise GatewayError(f"africastalking: {str(exc)[:200]}") from None
        except requests.RequestException as exc:
            raise GatewayError(f"africastalking unreachable: {type(exc).__name__}") from None
        # SDK 2.0.3 parses JSON only for exactly `application/json`; otherwise we get the text.
        try:
            data = json.loads(raw) if isinstance(raw, str) else raw
            message_data = data["SMSMessageData"]
        except (ValueError, KeyError, TypeError):
            raise GatewayError(f"africastalking: unreadable reply {str(raw)[:200]!r}") from None
        by_number = {r.get("number"): r for r in message_data.get("Recipients") or []}
        if not by_number and message_data.get("Message") == "InvalidSenderId":
            return [Delivery(n, FAILED, status_code=402, reason="InvalidSenderId") for n in recipients]
        return [self._delivery(n, by_number.get(n)) for n in recipients]

    @staticmethod
    def _delivery(number: str, item: dict | None) -> Delivery:
        if item is None:        # not mentioned in the reply: not known to be sent
            return Delivery(number, RETRY, reason="NotInReply")
        code = item.get("statusCode")
        outcome, reason = AT_STATUS.get(code, (RETRY, str(item.get("status") or "Unknown")))
        return Delivery(number, outcome, message_id=item.get("messageId") if outcome == SENT else None,
                        cost=item.get("cost"), status_code=code, reason=None if outcome == SENT else reason)


class LocalGateway:
    """Embedded default: nothing leaves the machine; each message is a line in ENERLECTRA_HOME/sms.log."""

    name = "local"

    def __init__(self, home: Path):
        self.path = home / "sms.log"
        self._lock = threading.Lock()          # sending threads append whole lines, one request at a time

    def send(self, body: str, recipients: list[str]) -> list[Delivery]:
        deliveries = [Delivery(n, SENT, message_id=f"local-{uuid.uuid4().hex[:16]}") for n in recipients]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, self.path.open("a", encoding="utf-8") as f:
            for d in deliveries:
                f.write(json.dumps({"to": d.msisdn, "id": d.message_id, "text": body}, ensure_ascii=False) + "\n")
        return deliveries


def gateway_from_settings(settings) -> Gateway:
    if settings.at_username and settings.at_api_key:
        return AfricasTalkingGateway(settings.at_username, settings.at_api_key, settings.at_sender_id,
                                     settings.at_api_base_url)
    return LocalGateway(settings.home)
