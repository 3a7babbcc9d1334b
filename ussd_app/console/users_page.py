"""The Users pages (admin and support): find a user by number as a person types it, and their profile:
language, balances, labelled history, PIN state with Unlock and Reset (each audited: pin.unlock, pin.reset
with the identity-check note), the SMS we sent them, payments, market orders, clusters, power-bank rentals. The
full number shows on the profile only; the search lists it masked."""
from __future__ import annotations

import secrets

from aiohttp import web
from sqlalchemy.exc import DBAPIError

from enerlectra import clock
from enerlectra.db.models import User
from enerlectra.domain import ledger, outbox, pin_support, wallet
from enerlectra.domain.account_texts import credit_text
from enerlectra.domain.phone import as_typed
from enerlectra.domain.pin_resets import ResetRefused
from enerlectra.i18n import in_language_of
from ussd_app import appkeys
from ussd_app.console import access, paging
from ussd_app.console import queries_payments as q_payments
from ussd_app.console import queries_rentals as q_rentals
from ussd_app.console import queries_users as q
from ussd_app.console import render

PATH = f"{access.PREFIX}/users"
NAV = ("Users", PATH, ("admin", "support"))
NOTE_MAX = 200
DONE = {
    "unlocked": "PIN unlocked: the wrong-PIN count and lock are cleared.",
    "not-locked": "Nothing to unlock: no wrong PINs counted and no lock; nothing changed.",
    "reset": "Reset issued: their next dial chooses a new PIN; money actions are held; the owner gets an SMS.",
    "reset-repeat": "A reset is issued already and still good; nothing changed.",
    "credited": "Energy credited; the owner gets an SMS receipt.",
    "credit-repeat": "That credit was made already (the form was sent twice); nothing more was credited.",
    "not-asked": "They have not asked for a reset (Settings > Forgot PIN): tick 'issue anyway' if you checked "
                 "who they are another way. Nothing changed.",
}


@access.allow(*NAV[2])
async def search(request: web.Request) -> web.StreamResponse:
    typed = request.query.get("number", "").strip()
    rows, message, status = [], "", 200
    if typed:
        numbers = [m.e164 for m in as_typed(typed)]
        if not numbers:
            message, status = f"{typed[:40]!r} is not a phone number we serve (Zambia, Tanzania).", 400
        else:
            async with request.app[appkeys.DB_READ]() as s:
                rows = await q.found(s, numbers)
            if len(rows) == 1:
                raise web.HTTPFound(f"{PATH}/{rows[0][0]}")
            message = "" if rows else "No user has that number."
    table = render.Table("users", ["id", "number", "name", "country", "language", "registered"], rows,
                         links={0: PATH + "/{}"}, title="Users with that number", empty="")
    return render.page(request, "users.html", {"typed": typed, "flash": message}, table, status=status)


async def _user(request: web.Request, session) -> User:
    raw = request.match_info["user_id"]
    user = await session.get(User, int(raw)) if raw.isascii() and raw.isdigit() and len(raw) < 12 else None
    if user is None:
        raise web.HTTPNotFound(text="No such user.\n")
    return user


@access.allow(*NAV[2])
async def profile(request: web.Request) -> web.StreamResponse:
    async with request.app[appkeys.DB_READ]() as s:
        user = await _user(request, s)
        balances = await wallet.balances(s, user.id, user.currency)
        pin = await q.pin_state(s, user, outbox.now())
        tables = [
            render.Table("history", ["when", "what", "amount"], await q.history(s, user),
                         title="Wallet history (as the USSD screen says it)"),
            render.Table("sms", ["when", "kind", "status", "segments", "text"], await q.sms(s, user),
                         title="SMS we sent them"),
            render.Table("payments", q_payments.LIST_COLUMNS, await q.payments(s, user), title="Payments"),
            render.Table("orders", ["placed", "side", "price", "kWh", "left", "state", "until"],
                         await q.orders(s, user), title="Market orders"),
            render.Table("clusters", ["code", "name", "role", "status", "contributed", "joined"],
                         await q.clusters(s, user), title="Clusters"),
            render.Table("rentals", q_rentals.COLUMNS, (await q_rentals.listed(
                s, q_rentals.Filters(user_id=user.id), paging.Keyset(size=q.LIMIT), clock.now()))[0],
                         links={3: "/console/stations/{}"}, title="Power-bank rentals"),
        ]
    context = {"user": user, "facts": q.facts(user, balances), "pin": pin, "stamp": paging.stamp,
               "credit_key": secrets.token_urlsafe(16), "credit_max_wh": CREDIT_MAX_WH,
               "flash": DONE.get(request.query.get("done", ""), "")}
    return render.page(request, "user.html", context, *tables)


def _back(user_id: int, done: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(f"{PATH}/{user_id}?done={done}")


@access.allow(*NAV[2])
async def unlock(request: web.Request) -> web.StreamResponse:
    async with request.app[appkeys.DB_READ]() as s:
        user = await _user(request, s)
    changed = await pin_support.unlock(request.app[appkeys.DB], user.id, access.operator(request).actor)
    raise _back(user.id, "unlocked" if changed else "not-locked")


@access.allow(*NAV[2])
async def reset(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    note = " ".join(str(form.get("note", "")).split())
    if not note:
        raise web.HTTPBadRequest(text="Write how you checked the caller's identity: a reset needs that note.\n")
    if len(note) > NOTE_MAX:
        raise web.HTTPBadRequest(text=f"The note may be {NOTE_MAX} characters at most.\n")
    async with request.app[appkeys.DB_READ]() as s:
        user = await _user(request, s)
    try:
        step = await pin_support.issue(request.app[appkeys.DB], request.app[appkeys.SETTINGS], user.msisdn,
                                       form.get("force") == "yes", access.operator(request).actor, note)
    except ResetRefused:
        raise _back(user.id, "not-asked") from None
    raise _back(user.id, "reset" if step.created else "reset-repeat")


CREDIT_MAX_WH = 100_000          # 100 kWh per console credit: a pilot's top-up, not a new market


@access.allow("admin")
async def credit(request: web.Request) -> web.StreamResponse:
    """An admin's energy credit for a pilot (what `enerlectra energy credit` does), audited as ledger.credit.

    The form carries a key made when the page was drawn: the same form posted again repeats the key, and the
    ledger's idempotency key turns the repeat into nothing (in SQL, so a new login or Redis lost changes nothing).
    The key posted with another user or amount is refused: it names its first credit only."""
    form = await access.read_form(request)
    wh, reason, key = _credit_form(form)
    async with request.app[appkeys.DB_READ]() as s:
        user = await _user(request, s)
    key = f"console:credit:{key}"
    try:
        posted = await wallet.credit(request.app[appkeys.DB], key, user, ledger.ENERGY, wh, f"operator: {reason}",
                                     receipt=lambda ref: in_language_of(user, credit_text, wh, ledger.ENERGY, ref),
                                     actor=access.operator(request).actor)
    except wallet.KeyReused:
        raise web.HTTPConflict(text="This form made another credit already (another user or amount); nothing "
                                    "was credited now: reload the profile for a new form.\n") from None
    except DBAPIError:          # rolled back, or in doubt at the commit: the key makes a resend safe either way
        raise web.HTTPServiceUnavailable(text="The database failed before the credit was confirmed: send the same "
                                              "form again (it credits once at most).\n",
                                         headers={"Retry-After": "5"}) from None
    raise _back(user.id, "credited" if posted.created else "credit-repeat")


def _credit_form(form) -> tuple[int, str, str]:
    """(Wh, reason, key) as posted, or a 400 that says which is wrong."""
    raw, reason = str(form.get("wh", "")).strip(), " ".join(str(form.get("reason", "")).split())[:100]
    key = str(form.get("key", ""))
    # ASCII digits only ("\u0663", "\u00b2" pass isdigit()); leading zeros dropped and the length bounded
    # before int(), which raises past 4,300 digits
    digits = raw.lstrip("0") if raw.isascii() else ""
    if not (digits.isdigit() and len(digits) <= 6 and int(digits) <= CREDIT_MAX_WH):
        raise web.HTTPBadRequest(text=f"Wh must be a whole number from 1 to {CREDIT_MAX_WH:,}.\n")
    if not reason:
        raise web.HTTPBadRequest(text="Write the reason for the credit (the pilot, the ticket).\n")
    if not reason.isprintable():        # a NUL is refused by PostgreSQL's text; control characters hide words
        raise web.HTTPBadRequest(text="The reason may hold letters, digits and punctuation only.\n")
    if not (8 <= len(key) <= 40 and key.isascii() and key.replace("-", "").replace("_", "").isalnum()):
        raise web.HTTPBadRequest(text="The form is incomplete: reload the page and try again.\n")
    return int(digits), reason, key


def routes() -> list[web.RouteDef]:
    return [web.get(PATH, search), web.get(PATH + "/{user_id}", profile),
            web.post(PATH + "/{user_id}/unlock", unlock), web.post(PATH + "/{user_id}/reset", reset),
            web.post(PATH + "/{user_id}/credit", credit)]
