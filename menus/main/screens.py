"""The main menu screen: installed features, numbered in their menu order. A user with a PIN reset waiting
goes to choose the new PIN instead."""
from __future__ import annotations

from enerlectra.domain import pin_resets
from enerlectra.i18n import _
from enerlectra.ussd.feature import Feature
from enerlectra.ussd.types import Ctx, Redirect, Rendered, Screen


def menu_renderer(entries: list[Feature], reset_state: str | None = None):
    async def menu(ctx: Ctx) -> Rendered:
        # Only as the dial opens: "the next dial" chooses the PIN, and Home within a call reads no SQL.
        if reset_state and ctx.opening and ctx.session.user_id \
                and await pin_resets.due(ctx.services.db_read, ctx.session.user_id):
            return Redirect(reset_state)
        greeting = _("Enerlectra - hi {name}").format(name=ctx.session.name or "")
        return Screen([greeting], [(str(i), str(f.title)) for i, f in enumerate(entries, start=1)])
    return menu
