"""One hop, start to finish: `Engine.handle(request) -> reply`.

    lock the session (renewed while the hop runs) -> refuse another phoneNumber -> replay cache (by the hop
    id the aggregator resends), or the END of an ended session -> load -> the new input, by the aggregator's
    path rule (engine/paths.py) -> navigation (98 More, 0 Back, 00 Home) or the machine -> render the state
    (I/O lives here; money steps key their SQL rows by the hop id, `Ctx.hop_key`) -> paginate within the
    budget -> save -> unlock -> reply

Nothing raised here reaches the user: an internal error ends the session with a short apology,
logged with the session id, and the last good screen stays resumable.
"""
from __future__ import annotations

import copy
import logging
import time

from babel.support import LazyProxy

from enerlectra import faults, i18n
from enerlectra.domain import ledger, users
from enerlectra.domain.phone import COUNTRIES
from enerlectra.i18n import _
from enerlectra.ratelimit import Call
from enerlectra.ussd.budget import BACK, HOME, MORE, paginate
from enerlectra.ussd.ends import SessionEnd
from enerlectra.ussd.types import (Ctx, Nav, Redirect, Reject, Screen, Services, Session, UssdReply,
                                   UssdRequest)
from ussd_app.engine import paths
from ussd_app.engine.store import Loaded, LockTimeout, SessionStore
from ussd_app.engine.tree import MenuTree
from ussd_app.metrics import Metrics

log = logging.getLogger(__name__)

RESUME = "resume"            # engine screen, not a menu state: "1 Continue / 2 Start again"
MAX_REDIRECTS = 5
MAX_SHORTCUT_PARTS = 8       # a real dial string has a handful (menus are 3-4 levels deep); more: not walked


class Engine:
    def __init__(self, tree: MenuTree, store: SessionStore, services: Services, metrics: Metrics):
        self.tree = tree
        self.store = store
        self.services = services
        self.metrics = metrics

    async def handle(self, req: UssdRequest, limits: Call | None = None) -> UssdReply:
        """`limits`: the hop's rate limits, checked in the lock's round trip (store.RateLimited when over)."""
        try:
            loaded = await self.store.acquire(req.session_id, req.hop, limits, req.msisdn)
        except LockTimeout:
            log.error("session %s (%s): lock not acquired in time", req.session_id, req.aggregator)
            self.metrics.errors.labels("lock_timeout").inc()
            with i18n.language(default_language(req.country)):
                return UssdReply(_("Sorry, we are busy. Please dial again."), end=True)
        saved = False
        alive = self.store.keep_alive_soon(req.session_id, loaded.token)
        try:
            answered = self._answered(req, loaded)
            if answered is not None:
                return answered
            reply, session, save_args = await self._hop(req, loaded.session, loaded.resume)
            reason = save_args.pop("end_reason")
            end = self.end_record(session, req.aggregator, reason) if reason else None
            await self.store.save(session, req.hop, reply, loaded.token, recent=loaded.recent, end=end,
                                  seen=loaded.seen, **save_args)
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
            log.warning("session %s (%s): a hop from another number refused", req.session_id, req.aggregator)
            self.metrics.errors.labels("foreign_number").inc()
            with i18n.language(default_language(req.country)):
                return UssdReply(_("Sorry, this session is not yours. Please dial again."), end=True)
        if loaded.replay is not None or loaded.ended is not None:
            self.metrics.replays.inc()
            return loaded.replay or loaded.ended.reply
        return None

    async def _hop(self, req: UssdRequest, session: Session | None, resume: Session | None = None
                   ) -> tuple[UssdReply, Session, dict]:
        """`resume`: the caller's resume pointer, read with the lock when the session is new."""
        is_new = session is None
        if session is None:
            session = Session(id=req.session_id, msisdn=req.msisdn, country=req.country,
                              state=self.tree.start, lang=default_language(req.country))
        i18n.use(session.lang)
        failed = timed_out = False
        try:
            if is_new and req.is_new is False:
                # Redis lost a session whose aggregator sends the latest input only: its path is gone, so no
                # step may run blind (Africa's Talking sends the whole path: that session is walked again).
                timed_out = True
                reply = await self._timed_out(session)
            elif is_new:
                self.metrics.sessions_started.inc()
                reply = await self._open(session, resume, req)
            elif paths.behind(req.path_rule, session.path, req.text):
                # A late duplicate of a hop older than the replay cache keeps: taken as input it would press
                # keys nobody pressed now and move the path off the user's next hops. The screen as it is.
                reply = self._show(session)
            else:
                path, text = paths.advance(req.path_rule, session.path, req.text)
                if req.own_hop_id and self._maybe_a_retry(session, text):
                    reply = self._show(session, hint=_("You pressed {key} again. Press {key} once more to "
                                                       "choose it.").format(key=text))
                else:
                    reply = await self._step(session, text, req.hop, step=session.steps)
                session.path, session.steps = path, session.steps + 1
        except Exception:
            log.exception("session %s: hop failed in state %s", req.session_id, session.state)
            self.metrics.errors.labels("internal").inc()
            i18n.use(session.lang)
            reply, failed = UssdReply(_("Sorry, something went wrong. Please dial again."), end=True), True
            if not is_new:
                session.steps += 1          # the failed input was a hop too (the session ends: counted only)
        if reply.end:
            self.metrics.sessions_ended.labels("error" if failed else "end").inc()
        # The resume offer and a failure leave the last good resume point in place. A session Redis lost has
        # no end record (what it reached is gone with it).
        return reply, session, {"resumable": session.state != RESUME and self.tree.mid_journey(session.state),
                                "keep_resume": failed or timed_out or session.state == RESUME,
                                "end_reason": None if not reply.end or timed_out else "error" if failed else "done"}

    def end_record(self, session: Session, aggregator: str, reason: str) -> SessionEnd:
        """How the session went (enerlectra/ussd/ends.py), from what it carries: no extra read."""
        return SessionEnd.of(session_id=session.id, aggregator=aggregator, msisdn=session.msisdn,
                             user_id=session.user_id, country=session.country, language=session.lang,
                             screens=self.tree.reached(session), last_screen=session.state, reason=reason,
                             hops=session.steps + 1, ended_at=time.time())

    def _maybe_a_retry(self, session: Session, text: str) -> bool:
        """An aggregator whose hop ids are our own count (Arkesel) cannot tell a retry of an answered hop from
        the same key pressed again. A pick of the current screen equal to the input that led here, within
        the retry window and not asked about yet, may be a retry: run nothing, ask once. Kept as a digest:
        an input may be a PIN."""
        now, digest = time.time(), ledger.keyed_digest("pick", text)
        key, at, asked = (session.last_pick + ["", 0.0, False])[:3]
        options = {k for k, _label in Screen.from_json(session.screen).options} if session.screen else set()
        retry = (digest == key and not asked and text in options
                 and now - at < self.services.settings.ussd_retry_window_seconds)
        session.last_pick = [digest, now, retry]
        return retry

    async def _timed_out(self, session: Session) -> UssdReply:
        """The END for a hop of a session we no longer have, in its owner's language; the resume point stays,
        so the next dial offers to continue."""
        self.metrics.errors.labels("session_lost").inc()
        user = await users.get_by_msisdn(self.services.db_read, session.msisdn)
        return timed_out_reply(user.language if user is not None else session.lang)

    # -- opening a session ---------------------------------------------------------------------

    async def _open(self, session: Session, resume: Session | None, req: UssdRequest) -> UssdReply:
        session.resume_kept = resume is not None
        user = await users.at_dial(self.services.reads, session.msisdn)      # one read: the user, a PIN reset
        if user is not None:
            session.user_id, session.name, session.lang = user.id, user.name, user.language
            session.reset_due = user.reset_due
            session.state = self.tree.home
            i18n.use(session.lang)
        parts = req.text.split("*") if req.text else []      # a first hop's text: a dial string's parts
        # A longer dial string opens the plain first screen: one hop never walks hundreds of steps. Its parts
        # still count as consumed (AT's next hops repeat them in front of the new input).
        shortcut = 0 < len(parts) <= MAX_SHORTCUT_PARTS and session.user_id is not None
        session.path = paths.opened(req.path_rule, parts)
        if resume is not None and not shortcut and self._worth_resuming(session, resume):
            session.state = RESUME
            session.data = {"resume": resume.to_json()}
            session.screen, session.header = _resume_screen().to_json(), []
            return self._show(session)
        cumulative = req.path_rule == paths.CUMULATIVE
        reply = await self._enter(session, session.state, None, "" if cumulative else req.hop, opening=True)
        if shortcut:
            # A dial-string shortcut (*123*4#) says where to go: its parts are the first inputs (and it wins
            # over a resume offer). New users onboard first. After Redis lost an Africa's Talking session, a
            # retransmitted hop walks here too: each step's path, and so its money key, is the one it had the
            # first time. A walked step never moves money first (menus/common.money_step_refused).
            for i, part in enumerate(parts):
                if reply.end:
                    break
                hop = "*".join(parts[:i + 1]) if cumulative else f"{req.hop}#{i + 1}"
                reply = await self._step(session, part, hop, step=i, walking=True)
        session.steps = len(parts)
        return reply

    def _worth_resuming(self, session: Session, resume: Session) -> bool:
        return (resume.user_id == session.user_id and resume.state in self.tree.states
                and self.tree.mid_journey(resume.state))

    async def _resume_choice(self, session: Session, text: str, hop: str, step: int) -> UssdReply:
        if text == "1":
            saved = Session.from_json(session.data["resume"])
            session.state, session.data, session.history = saved.state, saved.data, saved.history
            session.screen, session.page, session.header = saved.screen, saved.page, saved.header
            self.tree.reach(session, session.state)
            return self._show(session)
        if text == "2":
            session.data, session.history = {}, []
            return await self._enter(session, self.tree.home if session.user_id else self.tree.start, None, hop,
                                     step=step)
        return self._show(session, hint=_("Reply 1 or 2."))

    # -- one input -----------------------------------------------------------------------------

    async def _step(self, session: Session, text: str, hop: str, *, step: int, walking: bool = False) -> UssdReply:
        """One input, the session's `step`th; `hop` is its hop id (what a retransmission sends again)."""
        if session.state == RESUME:
            return await self._resume_choice(session, text, hop, step)
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
            return await self._enter(session, session.history.pop(), None, hop, step=step)
        if text == HOME and nav is Nav.FULL:
            session.history.clear()
            session.data = {}
            return await self._enter(session, self.tree.home, None, hop, step=step)
        undo = (session.state, copy.deepcopy(session.data), list(session.history))
        if not self.tree.move(session, text):
            return self._show(session, hint=self._hint(session))
        session.history.append(undo[0])
        return await self._enter(session, session.state, text, hop, undo=undo, walking=walking, step=step)

    async def _enter(self, session: Session, state: str, text: str | None, hop: str, *,
                     undo: tuple[str, dict, list] | None = None, walking: bool = False, step: int = 0,
                     opening: bool = False) -> UssdReply:
        flash = None
        for _attempt in range(MAX_REDIRECTS):
            self.tree.set_state(session, state)
            i18n.use(session.lang)             # a renderer may have changed the language
            result = await self.tree.states[state].screen(Ctx(session, text, self.services, hop, walking, step,
                                                              opening and text is None))
            i18n.use(session.lang)
            if not isinstance(result, Reject):
                self.tree.reach(session, state)        # its renderer ran: reached (a redirect's source too)
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


def timed_out_reply(lang: str) -> UssdReply:
    """The END for a hop of a session that is over (lost, or closed by the aggregator's notice)."""
    with i18n.language(lang):
        return UssdReply(_("Sorry, your session timed out. Please dial again."), end=True)


def default_language(country: str) -> str:
    return COUNTRIES.get(country, ("", i18n.DEFAULT_LANGUAGE))[1]
