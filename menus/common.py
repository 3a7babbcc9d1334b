"""Rules and screen pieces every feature uses. Rules are pure functions of (session, text)."""
from __future__ import annotations

from enerlectra import i18n
from enerlectra.domain import hops, pin_resets, pin_texts, pins
from enerlectra.domain.pin_code import (KEYED, PLAIN, hash_pin_async, is_valid_pin, needs_sealing, pin_key,
                                        scheme_of, verify_entry_async, verify_password_async)
from enerlectra.domain.pin_texts import pin_lock_text
from enerlectra.i18n import _, in_language_of  # noqa: F401  in_language_of: menus use it from here
from enerlectra.ussd.types import Ctx, Reject, Screen, Session

LANGUAGE_CODES = list(i18n.LANGUAGES)          # option n picks LANGUAGE_CODES[n - 1]


def press(key: str):
    """A rule that holds when the user typed exactly `key`."""
    def rule(session: Session, text: str) -> bool:
        return text.strip() == key
    rule.__name__ = f"press_{key}"
    return rule


def picks_language(session: Session, text: str) -> bool:
    return text.strip() in {str(i) for i in range(1, len(LANGUAGE_CODES) + 1)}


def language_picked(text: str) -> str:
    return LANGUAGE_CODES[int(text.strip()) - 1]


def language_options() -> list[tuple[str, str]]:
    """Each language named in itself: a user who cannot read the current one still finds theirs."""
    return [(str(i), name) for i, name in enumerate(i18n.LANGUAGES.values(), start=1)]


def pin_shaped(session: Session, text: str) -> bool:
    return is_valid_pin(text.strip())


def four_digits(session: Session, text: str) -> bool:
    """Any 4 digits (an existing PIN is checked against its hash, not against today's rules)."""
    text = text.strip()
    return len(text) == 4 and text.isascii() and text.isdigit()


PIN_HINT = pin_texts.WEAK_PIN_HINT
LANGUAGE_HINT = i18n.lazy_gettext("Type 1, 2, 3 or 4.")


def locked_screen(until, country: str) -> Screen:
    return Screen([_("Money actions are locked until {time}. Try again later.").format(
        time=pins.local_hhmm(until, country))], end=True)


def held_screen(until, country: str) -> Screen:
    """Money actions wait after support reset the PIN (PIN_RESET_HOLD_HOURS): a day or more, so the date too."""
    return Screen([pin_resets.held_text(until, country)], end=True)


async def money_locked(ctx: Ctx) -> Screen | None:
    """The END screen when money actions are locked (wrong PINs) or held (a PIN reset), before the user types
    anything."""
    held, until = await pins.hold_and_lock(ctx.services.reads, ctx.session.user_id)
    if held is not None:
        return held_screen(held, ctx.session.country)
    return locked_screen(until, ctx.session.country) if until is not None else None


async def money_step_refused(ctx: Ctx, kind: str) -> Screen | None:
    """An END when this hop must not move money as a `kind` step; None when it may run (or re-run).

    A hop's key moves money for one kind of step only (`hops`: a retransmission walked after Redis lost a
    session that began with the resume offer reads its inputs one place off). And a hop rebuilt from its path
    alone (`ctx.walking`: a dial string, or a hop retransmitted after Redis lost its session) only replays what
    its key did: it never moves money first, since its inputs may not mean what the user chose."""
    async with ctx.services.db_read() as s:
        done = await hops.taken(s, ctx.hop_key, ctx.session.user_id)
    if done - {kind} or (ctx.walking and kind not in done):
        return Screen([_("Sorry, something went wrong. Please dial again.")], end=True)
    return None


async def money_pin(ctx: Ctx, locked=None, step: str | None = None, hold: bool = True) -> Screen | Reject | None:
    """Check the PIN typed (ctx.text) for a money action: None when right; otherwise what to show
    (a Reject with the tries left, or the END screen once locked or held; the lock SMS is queued and sent).
    `step`: the kind of money step the PIN is for (`hops.SUFFIX`), refused before any try when this hop
    moved money for another kind already. `hold`: False for what a PIN reset's hold does not stop."""
    session, settings = ctx.session, ctx.services.settings
    moved = await money_step_refused(ctx, step) if step is not None else None
    if moved is not None:
        return moved
    ctx.secret_input()
    checked = await pins.check(ctx.services.db, session.user_id, ctx.text.strip(),
                               max_failures=settings.pin_max_failures, lock_minutes=settings.pin_lock_minutes,
                               cost=settings.pin_kdf_cost,
                               lock_sms=lambda user, until: in_language_of(user, pin_lock_text, until), hold=hold)
    if checked.held:
        return held_screen(checked.locked_until, session.country)
    if checked.locked_until is not None:
        if checked.locked_now:        # this very PIN locked it
            return Screen([pin_texts.locked_after(settings.pin_max_failures,
                                                  pins.local_hhmm(checked.locked_until, session.country))], end=True)
        return (locked or locked_screen)(checked.locked_until, session.country)
    if not checked.ok:
        return Reject(pin_texts.tries_left(checked.tries_left))
    return None


async def remember_first_pin(ctx: Ctx, key: str = "pin_hash") -> None:
    """Keep the first entry of a new PIN only as its sealed hash (pin_code), for the confirmation step."""
    if ctx.text is not None:
        ctx.secret_input()
        ctx.session.data[key] = await hash_pin_async(ctx.text.strip(), ctx.services.settings.pin_kdf_cost,
                                                     key=pin_key())


async def confirm_pin(ctx: Ctx, key: str = "pin_hash") -> Reject | str:
    """The stored hash when the second entry matches the first; otherwise a Reject."""
    stored = ctx.session.data.get(key)
    if ctx.text is not None:
        ctx.secret_input()
    # a first entry kept plain by a process from before sealing (a rolling deploy): the user's own
    verify = verify_password_async if scheme_of(stored) == PLAIN else verify_entry_async
    if not stored or ctx.text is None or not await verify(ctx.text.strip(), stored):
        return Reject(_("The PINs did not match. Enter it again."))
    cost = ctx.services.settings.pin_kdf_cost
    if needs_sealing(stored, cost, KEYED):   # kept by a process from before sealing (a rolling deploy): sealed
        stored = await hash_pin_async(ctx.text.strip(), cost, key=pin_key())
    return stored
