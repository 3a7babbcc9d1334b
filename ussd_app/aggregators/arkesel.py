"""Arkesel (Ghana): JSON in and out (protocols.md section 11).

In: {"sessionID": "a1b2c3", "userID": "<account ussd id>", "newSession": true, "msisdn": "233241234567",
"userData": "*928*01#" (first hop: the dial string; then the latest input), "network": "MTN"}.
Out: {"sessionID", "userID", "msisdn", "message": "text", "continueSession": true|false}.

Arkesel sends no hop number and no round-trip field, so the hop id is our own count of the inputs the session
consumed (read as the hop arrives). A retry that arrives while its hop still runs waits for it and gets its
reply; a retry of a hop already answered reads the next count, so it cannot be told from the same key
pressed again: `own_hop_ids` makes the engine run nothing for a pick equal to the one before it within
USSD_RETRY_WINDOW_SECONDS, and ask ("You pressed 1 again. Press 1 once more to choose it."); the next
identical press is taken. (After a money step's END a retry gets that END: nothing moves twice.) No
end-of-session notice.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from aiohttp import web

from enerlectra.domain.phone import parse_msisdn
from enerlectra.ussd.types import UssdReply
from ussd_app.adapters.bounds import Field
from ussd_app.aggregators.contract import Aggregator, Hop, Notice, flag, get


class Arkesel(Aggregator):
    name = "arkesel"
    own_hop_ids = True
    fields = {"sessionID": Field(100, required=True), "msisdn": Field(32, required=True), "userID": Field(100),
              "newSession": Field(5), "userData": Field(1000), "network": Field(40)}

    def parse(self, body: dict[str, Any]) -> Hop | Notice:
        number = parse_msisdn(get(body, "msisdn"))
        data, is_new = get(body, "userData", as_typed=True), flag(body, "newSession")
        return Hop(session_id=self.session_id(get(body, "sessionID")), msisdn=number.e164,
                   country=number.country, text=self.shortcut(data) if is_new else data,
                   network_code=get(body, "network").lower()[:10], hop_id="n0" if is_new else None, is_new=is_new,
                   path_rule=self.path_rule, aggregator=self.name, own_hop_id=self.own_hop_ids)

    async def with_hop_id(self, hop: Hop, store) -> Hop:
        if hop.hop_id is not None:
            return hop
        steps = await store.steps(hop.session_id)
        # No live session (ended, or lost): a hop id no answered hop had, so the END, not an old screen, answers.
        return replace(hop, hop_id="gone" if steps is None else f"n{steps + 1}")

    def render(self, reply: UssdReply, body: dict[str, Any]) -> web.Response:
        return web.json_response({"sessionID": get(body, "sessionID"), "userID": get(body, "userID"),
                                  "msisdn": get(body, "msisdn"), "message": reply.text,
                                  "continueSession": not reply.end})
