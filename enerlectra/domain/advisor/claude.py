"""Claude through the anthropic SDK: one Messages API call per question (protocols.md section 10).

AsyncAnthropic, because the job body already runs on the worker's event loop next to our async SQL;
the SDK retries 408/409/429/5xx/529 and timeouts itself, with exponential backoff that honours
retry-after, `max_retries` times. What still fails is reported as AdvisorUnavailable: the caller
sends an apology, never silence.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import anthropic

from enerlectra.settings import Settings


class AdvisorUnavailable(Exception):
    """Claude could not answer (after the SDK's retries): rate limited, overloaded, down, or refused."""


@dataclass(frozen=True)
class Reply:
    text: str
    model: str
    input_tokens: int
    output_tokens: int
    stop_reason: str | None


def client(settings: Settings) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(api_key=settings.anthropic_api_key, base_url=settings.anthropic_base_url,
                                    timeout=float(settings.advisor_timeout_seconds),
                                    max_retries=settings.advisor_max_retries)


async def ask(api: anthropic.AsyncAnthropic, settings: Settings, system: str, messages: list[dict]) -> Reply:
    try:
        message = await api.messages.create(model=settings.advisor_model, max_tokens=settings.advisor_max_tokens,
                                            system=system, messages=messages)
    except anthropic.APIStatusError as exc:
        raise AdvisorUnavailable(f"HTTP {exc.status_code}: {_error_type(exc)}") from exc
    except anthropic.APIConnectionError as exc:           # includes APITimeoutError
        raise AdvisorUnavailable(f"{type(exc).__name__}: {exc}") from exc
    text = " ".join(block.text for block in message.content if getattr(block, "type", "") == "text").strip()
    if not text:
        raise AdvisorUnavailable(f"empty answer (stop_reason {message.stop_reason})")
    return Reply(text, message.model, message.usage.input_tokens, message.usage.output_tokens, message.stop_reason)


def _error_type(exc: anthropic.APIStatusError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error") if isinstance(body.get("error"), dict) else {}
    return str(error.get("type") or type(exc).__name__)


def cost_micro_usd(prices: str, input_tokens: int, output_tokens: int) -> int:
    """`prices` is "IN,OUT" in USD per million tokens, which is exactly micro-USD per token."""
    try:
        price_in, price_out = (Decimal(p.strip()) for p in prices.split(","))
    except (ValueError, ArithmeticError):
        raise SystemExit(f"ADVISOR_PRICES must be 'IN,OUT' USD per million tokens, got {prices!r}") from None
    return int((price_in * input_tokens + price_out * output_tokens).to_integral_value())
