"""One hop, start to finish: `Engine.handle(request) -> reply`.

    lock the session (renewed while the hop runs) -> refuse another phoneNumber -> replay cache, or the END
    of an ended session -> load -> reduce the cumulative text to the new input -> navigation (98 More,
    0 Back, 00 Home) or the machine -> render the state (I/O lives here; money steps key their SQL rows by
    the hop's path, `Ctx.hop_key`) -> paginate within the budget -> save -> unlock -> reply

Nothing raised here reaches the user: an internal error ends the session with a short apology,
logged with the session id, and the last good screen stays resumable.
"""
from __future__ import annotations

import asyncio
import copy
import logging

from babel.support import LazyProxy

from enerlectra import faults, i18n
from enerlectra.domain import ledger, users
from enerlectra.domain.phone import COUNTRIES
from enerlectra.ussd.budget import BACK, HOME, MORE, paginate
from ussd_app.engine.store import Loaded, LockTimeout, SessionStore
from ussd_app.engine.tree import MenuTree
from enerlectra.ussd.types import (Ctx, Nav, Redirect, Reject, Screen, Services, Session, UssdReply,
                                   UssdRequest)
from enerlectra.i18n import _
from ussd_app.metrics import Metrics

log = logging.getLogger(__name__)

RESUME = "resume"            # engine screen, not a menu state: "1 Continue / 2 Start again"
MAX_REDIRECTS = 5


class Engine:
    def __init__(self, tree: MenuTree, store: SessionStore, services: Services, metrics: Metrics):
        self.tree = tree
        self.store = store
        self.services = services
        self.metrics = metrics

    async def handle(self, req: UssdRequest) -> UssdReply:
        try:
            loaded = await self.store.acquire(req.session_id, req.text)
        except LockTimeout:
            log.error("session %s: lock not acquired in time", req.session_id)
            self.metrics.errors.labels("lock_timeout").inc()
            with i18n.language(default_language(req.country)):
                return UssdReply(_("Sorry, we are busy. Please dial again."), end=True)
        saved = False
        alive = asyncio.create_task(self.store.keep_alive(req.session_id, loaded.token))
        try:
            answered = self._answered(req, loaded)
            if answered is not None:
                return answered
            reply, session, save_args = await self._hop(req, loaded.session)
            await self.store.save(session, req.text, reply, loaded.token, **save_args)
            saved = True
            return reply
        finally:
            alive.cancel()
            if not saved:
                await self.store.release(req.session_id, loaded.token)

    def _answered(self, req: UssdRequest, loaded: Loaded) -> UssdReply | None:
        """A hop that must not run: another number on this session (refused), a retransmission (the stored
        reply), or any hop after the session's END (that END: a late or retried webhook moves nothing)."""
        owner = loaded.session.msisdn if loaded.session else loaded.ended.msisdn if loaded.ended else None
        if owner is not None and owner != req.msisdn and not faults.on("foreign_number_accepted"):
            log.warning("session %s: a hop from another number refused", req.session_id)
            self.metrics.errors.labels("foreign_number").inc()
            with i18n.language(default_language(req.country)):
                return UssdReply(_("Sorry, this session is not yours. Please dial again."), end=True)
        if loaded.replay is not None or loaded.ended is not None:
            self.metrics.replays.inc()
            return loaded.replay or loaded.ended.reply
        return None

    async def _hop(self, req: UssdRequest, session: Session | None) -> tuple[UssdReply, Session, dict]:
        is_new = session is None
        if session is None:
            session = Session(id=req.session_id, msisdn=req.msisdn, country=req.country,
                              state=self.tree.start, lang=default_language(req.country))
        i18n.use(session.lang)
        failed = False
        try:
            if is_new:
                self.metrics.sessions_started.inc()
                reply = await self._open(session, await self.store.resume_point(session.msisdn), req.text)
            else:
                reply = await self._step(session, _new_input(session.consumed, req.text), req.text)
            session.consumed = consumed_mark(req.text)
        except Exception:
            log.exception("session %s: hop failed in state %s", req.session_id, session.state)
            self.metrics.errors.labels("internal").inc()
            i18n.use(session.lang)
            reply, failed = UssdReply(_("Sorry, something went wrong. Please dial again."), end=True), True
        if reply.end:
            self.metrics.sessions_ended.labels("error" if failed else "end").inc()
        # The resume offer and a failure leave the last good resume point in place.
        return reply, session, {"resumable": session.state != RESUME and self.tree.mid_journey(session.state),
                                "keep_resume": failed or session.state == RESUME}

    # -- opening a session ---------------------------------------------------------------------

    async def _open(self, session: Session, resume: Session | None, text: str) -> UssdReply:
        user = await users.get_by_msisdn(self.services.db_read, session.msisdn)
        if user is not None:
            session.user_id, session.name, session.lang = user.id, user.name, user.language
            session.state = self.tree.home
            i18n.use(session.lang)
        shortcut = bool(text) and session.user_id is not None
        if resume is not None and not shortcut and self._worth_resuming(session, resume):
            session.state = RESUME
            session.data = {"resume": resume.to_json()}
            session.screen, session.header = _resume_screen().to_json(), []
            return self._show(session)
        reply = await self._enter(session, session.state, None, "")
        if shortcut:
            # A dial-string shortcut (*123*4#) says where to go: its parts are the first inputs (and it wins
            # over a resume offer). New users onboard first. After Redis lost a session, a retransmitted hop
            # walks here too: each step's path, and so its money key, is the one it had the first time.
            parts = text.split("*")
            for i, part in enumerate(parts):
                if reply.end:
                    break
                reply = await self._step(session, part, "*".join(parts[:i + 1]), walking=True)
        return reply

    def _worth_resuming(self, session: Session, resume: Session) -> bool:
        return (resume.user_id == session.user_id and resume.state in self.tree.states
                and self.tree.mid_journey(resume.state))

    async def _resume_choice(self, session: Session, text: str, hop: str) -> UssdReply:
        if text == "1":
            saved = Session.from_json(session.data["resume"])
            session.state, session.data, session.history = saved.state, saved.data, saved.history
            session.screen, session.page, session.header = saved.screen, saved.page, saved.header
            return self._show(session)
        if text == "2":
            session.data, session.history = {}, []
            return await self._enter(session, self.tree.home if session.user_id else self.tree.start, None, hop)
        return self._show(session, hint=_("Reply 1 or 2."))

    # -- one input -----------------------------------------------------------------------------

    async def _step(self, session: Session, text: str, hop: str, *, walking: bool = False) -> UssdReply:
        """One input; `hop` is the aggregator's whole path through it (what a retransmission sends again)."""
        if session.state == RESUME:
            return await self._resume_choice(session, text, hop)
        nav = self._nav(session)
        # The pages shown, hint or flash on top included: paging keys win until the last page is shown, so
        # the whole of a long prompt is reachable; on the last page (or a one-page screen) 98 is an answer.
        pages = paginate(Screen.from_json(session.screen), nav, session.header)
        if text == MORE and session.page < len(pages) - 1:
            session.page += 1
            return self._show(session)
        if text == BACK and session.page > 0:
            session.page -= 1
            return self._show(session)
        if text == BACK and nav is not Nav.NONE and session.history:
            return await self._enter(session, session.history.pop(), None, hop)
        if text == HOME and nav is Nav.FULL:
            session.history.clear()
            session.data = {}
            return await self._enter(session, self.tree.home, None, hop)
        undo = (session.state, copy.deepcopy(session.data), list(session.history))
        if not self.tree.move(session, text):
            return self._show(session, hint=self._hint(session))
        session.history.append(undo[0])
        return await self._enter(session, session.state, text, hop, undo=undo, walking=walking)

    async def _enter(self, session: Session, state: str, text: str | None, hop: str, *,
                     undo: tuple[str, dict, list] | None = None, walking: bool = False) -> UssdReply:
        flash = None
        for _attempt in range(MAX_REDIRECTS):
            self.tree.set_state(session, state)
            i18n.use(session.lang)             # a renderer may have changed the language
            result = await self.tree.states[state].screen(Ctx(session, text, self.services, hop, walking))
            i18n.use(session.lang)
            if isinstance(result, Redirect):
                state, flash, text = result.state, result.flash, None
                if result.reset_history:   # a finished journey: Back leads home, not into it again
                    session.history = [] if state == self.tree.home else [self.tree.home]
                continue
            if isinstance(result, Reject):
                if undo is None:
                    raise RuntimeError(f"{state} rejected without a screen to return to")
                session.state, session.data, session.history = undo
                return self._show(session, hint=result.hint)
            session.screen, session.page, session.header = result.to_json(), 0, []
            return self._show(session, flash=flash)
        raise RuntimeError(f"more than {MAX_REDIRECTS} redirects from {session.state}")

    # -- showing -------------------------------------------------------------------------------

    def _nav(self, session: Session) -> Nav:
        return Nav.NONE if session.state == RESUME else self.tree.states[session.state].nav

    def _hint(self, session: Session) -> str:
        hint = self.tree.states[session.state].hint
        if callable(hint) and not isinstance(hint, LazyProxy):
            hint = hint(session)             # a hint in the session's terms (its currency)
        return str(hint) if hint else _("Reply with a number from the list.")

    def _show(self, session: Session, *, hint: str | None = None, flash: str | None = None) -> UssdReply:
        """Show the session's page; a hint or flash replaces the lines on top, which paging keeps."""
        if hint is not None or flash is not None:
            session.header = [line for line in (hint, flash) if line]
        screen = Screen.from_json(session.screen)
        pages = paginate(screen, self._nav(session), session.header)
        session.page = min(session.page, len(pages) - 1)
        page = pages[session.page]
        return UssdReply(page.text, end=screen.end and not page.has_more)


def _resume_screen() -> Screen:
    return Screen(body=[_("Continue where you left off?")],
                  options=[("1", _("Continue")), ("2", _("Start again"))])


def consumed_mark(text: str) -> str:
    """What the session keeps of the text it has turned into inputs: its length and a digest, never the
    text itself (it carries the PINs typed)."""
    return f"{len(text)}:{ledger.keyed_digest('consumed', text)}"


def _new_input(consumed: str, text: str) -> str:
    """Africa's Talking sends every input so far joined by '*'; what follows the consumed prefix is new.

    A user's input may itself contain '*', so splitting the whole text would be ambiguous.
    Text that does not extend the prefix comes from an aggregator that sends only the latest input.
    """
    seen = _seen_prefix(consumed, text) if consumed else None
    if seen is None:
        return text
    if text == seen:
        return ""
    if text.startswith(seen + "*"):
        return text[len(seen) + 1:]
    return text


def _seen_prefix(consumed: str, text: str) -> str | None:
    """The part of `text` the session has consumed already, if `text` starts with it."""
    size, sep, _digest = consumed.partition(":")
    if sep and size.isdigit():
        prefix = text[:int(size)]
        return prefix if consumed_mark(prefix) == consumed else None
    return consumed              # a session saved before marks were digests holds the text itself


def default_language(country: str) -> str:
    return COUNTRIES.get(country, ("", i18n.DEFAULT_LANGUAGE))[1]
