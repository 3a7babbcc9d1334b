"""A fake Anthropic Messages API, speaking the wire format of protocols.md section 10.

    POST /v1/messages    headers: anthropic-version, and the key as x-api-key or Authorization: Bearer
                         JSON {model, max_tokens, system?, messages: [{role, content}], ...}
      200 {id, type: "message", role: "assistant", model, content: [{type: "text", text}], stop_reason,
           stop_sequence, usage: {input_tokens, output_tokens}}
      errors {"type": "error", "error": {"type", "message"}}: 400 invalid_request_error,
           401 authentication_error, 429 rate_limit_error (with retry-after), 500 api_error, 529 overloaded_error

The real SDK is pointed at it with `base_url`. Answers are scripted (`replies`) or canned per the
language the system prompt asks for, written the way a model writes: markdown, curly quotes, a dash,
an emoji, and longer than 3 SMS, so our clean-up and cutting are exercised.

Test and QA controls (not part of the API) under /sim/:
    POST /sim/fail       {"mode": MODE, "count": n}; MODE is 429, 529, 500 or slow (answer after `slow_seconds`)
    GET  /sim/requests   every request received: headers we check and the JSON body
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
from dataclasses import dataclass, field
from typing import AsyncIterator

from aiohttp import web

from payments.sandboxes.base import Sandbox
from payments.sandboxes.base import running as sandbox_running

ERRORS = {"429": (429, "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"),
          "529": (529, "overloaded_error", "Overloaded"),
          "500": (500, "api_error", "Internal server error")}
CANNED = {
    "English": "**Good question!** Here\u2019s what works at night:\n\n"
               "- Store your daytime solar in a *deep-cycle* battery \u2014 lithium lasts longest.\n"
               "- Run big loads (irons, pumps) at midday, and keep the evening for lights and phones.\n"
               "- Don\u2019t drain the battery below half; it lives much longer.\n\n"
               "A 100 Ah battery at 12 V holds about 1.2 kWh \u2248 ten LED bulbs for 12 hours \U0001F4A1. "
               "If you have spare kWh after that, selling them to a neighbour at midday earns the most. "
               "Ask me again if you want help sizing a battery for your home or shop.",
    "Swahili": "**Swali zuri!** Hifadhi umeme wa jua mchana kwenye betri \u2014 ya lithiamu hudumu zaidi. "
               "Tumia vifaa vikubwa mchana, na jioni tumia taa na simu tu. \u201cUsiimalize\u201d betri chini "
               "ya nusu. Betri ya 100 Ah kwa 12 V huhifadhi takriban 1.2 kWh \U0001F50B. Ukibaki na kWh za "
               "ziada, uza kwa jirani mchana upate faida zaidi. Uliza tena ukihitaji msaada wa kuchagua "
               "betri inayofaa nyumba au duka lako, au jinsi ya kupanga matumizi ya jioni.",
    "Bemba": "**Icipusho icisuma!** Sungeni amalaiti ya kasuba muli batiri \u2014 iya lithium ikalilila. "
             "Bomfyeni ifipe ifikalamba akasuba. Mwiipwisha batiri ukucila pa hafu \U0001F50B.",
    "Nyanja": "**Funso labwino!** Sungani magetsi a dzuwa mu batire \u2014 ya lithium imakhalitsa. "
              "Gwiritsani zinthu zazikulu masana. Musaithe batire pansi pa theka \U0001F50B.",
}
_LANGUAGE = re.compile(r"Answer in (English|Swahili|Bemba|Nyanja)")


@dataclass
class FakeClaude(Sandbox):
    api_key: str = "fake-anthropic-key"
    replies: list[str] = field(default_factory=list)      # scripted answers, used first, in order
    requests: list[dict] = field(default_factory=list)
    retry_after: str = "0.05"                             # seconds, on 429/529 (the SDK honours it)
    slow_seconds: float = 5.0
    served: int = 0

    async def messages(self, request: web.Request) -> web.Response:
        raw = await request.read()
        seen = {"headers": {k.lower(): v for k, v in request.headers.items()
                            if k.lower() in ("x-api-key", "authorization", "anthropic-version", "content-type")}}
        self.requests.append(seen)
        key = request.headers.get("x-api-key") or request.headers.get("Authorization", "").removeprefix("Bearer ")
        if key != self.api_key:
            return _error(401, "authentication_error", "invalid x-api-key")
        if not request.headers.get("anthropic-version"):
            return _error(400, "invalid_request_error", "anthropic-version: header is required")
        try:
            body = json.loads(raw)
        except ValueError:
            return _error(400, "invalid_request_error", "request body is not valid JSON")
        seen["body"] = body
        problem = _invalid(body)
        if problem:
            return _error(400, "invalid_request_error", problem)
        mode = self.failures.pop(0) if self.failures else ""
        if mode in ERRORS:
            status, kind, message = ERRORS[mode]
            return _error(status, kind, message, {"retry-after": self.retry_after} if status in (429, 529) else None)
        if mode == "slow":
            await asyncio.sleep(self.slow_seconds)
        self.served += 1
        text = self.replies.pop(0) if self.replies else self.canned(body)
        stop = "end_turn"
        if len(text) > body["max_tokens"] * 4:          # about 4 characters a token
            text, stop = text[:body["max_tokens"] * 4], "max_tokens"
        return web.json_response({
            "id": f"msg_fake{self.served:08d}", "type": "message", "role": "assistant", "model": body["model"],
            "content": [{"type": "text", "text": text}], "stop_reason": stop, "stop_sequence": None,
            "usage": {"input_tokens": _tokens(_system_text(body.get("system")) + _all_content(body["messages"])),
                      "output_tokens": _tokens(text)}},
            headers={"request-id": f"req_fake{self.served:08d}"})

    def canned(self, body: dict) -> str:
        found = _LANGUAGE.search(_system_text(body.get("system")))
        return CANNED[found.group(1) if found else "English"]

    async def get_requests(self, request: web.Request) -> web.Response:
        return web.json_response(self.requests)

    def app(self) -> web.Application:
        app = web.Application()
        app.add_routes([web.post("/v1/messages", self.messages), web.get("/sim/requests", self.get_requests),
                        *self.control_routes()])
        return app


def _invalid(body) -> str | None:
    """The checks the real API makes that our requests could fail, as its messages word them."""
    if not isinstance(body, dict):
        return "body: Input should be an object"
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "model: Field required"
    if not isinstance(body.get("max_tokens"), int) or body["max_tokens"] < 1:
        return "max_tokens: Field required (an integer >= 1)"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: at least one message is required"
    for n, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ("user", "assistant"):
            return f"messages.{n}.role: Input should be 'user' or 'assistant'"
        if not isinstance(m.get("content"), (str, list)) or not m["content"]:
            return f"messages.{n}.content: Field required"
    if messages[0]["role"] != "user" or messages[-1]["role"] != "user":
        return "messages: first and last message must use the user role"
    if any(a["role"] == b["role"] for a, b in zip(messages, messages[1:], strict=False)):
        return "messages: roles must alternate between user and assistant"
    if "system" in body and not isinstance(body["system"], (str, list)):
        return "system: Input should be a valid string"
    return None


def _system_text(system) -> str:
    if isinstance(system, list):
        return " ".join(b.get("text", "") for b in system if isinstance(b, dict))
    return system or ""


def _all_content(messages: list[dict]) -> str:
    return " ".join(m["content"] if isinstance(m["content"], str) else json.dumps(m["content"]) for m in messages)


def _tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))


def _error(status: int, kind: str, message: str, headers: dict | None = None) -> web.Response:
    return web.json_response({"type": "error", "error": {"type": kind, "message": message}}, status=status,
                             headers=headers)


running = sandbox_running


@contextlib.asynccontextmanager
async def pointed_at_fake(settings) -> AsyncIterator:
    """`settings` with the advisor pointed at a fake Messages API served here (the real SDK, no key)."""
    fake = FakeClaude()
    async with running(fake) as url:
        yield settings.with_(anthropic_api_key=fake.api_key, anthropic_base_url=url)
