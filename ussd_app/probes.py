"""Health probes bounded in time: /healthz and the console's Health page run each check side by side under
the same bound, so a page about what is down answers within about 2 s whatever is down."""
from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

HEALTH_CHECK_SECONDS = 1.5


async def run(probe: Callable[[], Awaitable[Any]], seconds: float = HEALTH_CHECK_SECONDS) -> tuple[str, Any]:
    """("ok", what the probe returned), or ("error: ...", None): a probe's failure is reported, never raised."""
    try:
        return "ok", await asyncio.wait_for(probe(), seconds)
    except asyncio.TimeoutError:
        return f"error: no answer within {seconds:g} s", None
    except Exception as exc:  # health reports any failure, whatever its kind
        return f"error: {type(exc).__name__}", None


async def check(probe: Callable[[], Awaitable[Any]]) -> str:
    return (await run(probe))[0]
