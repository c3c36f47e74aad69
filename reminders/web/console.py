"""The web console at /admin: sign-in by a one-time link the bot sends (/login), a signed
session cookie, CSRF tokens on every form, and the pages of one commune.

The cookie holds a random session id and its HMAC (REMINDERS_SECRET_KEY's signing key);
the database keeps the id's hash with the admin, the commune, an expiry and a revocation.
Each request re-checks that the person is still an admin of that commune in the roster in
use. A form's CSRF token is the HMAC of the session id for another purpose, compared in
constant time. Opening a link shows a button; only pressing it spends the link (chat apps
fetch links for previews, which must not use them up).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from reminders.adapters.base import InviteRoute, implements, title_of
from reminders.definitions.authored import NotAllowed, read_authored
from reminders.definitions.load import load_definitions
from reminders.definitions.roster import Person
from reminders.definitions.roster_edit import add_member, change_leader
from reminders.definitions.writer import DutyExists
from reminders.errors import InvalidInput
from reminders.i18n import format_when, t
from reminders.inbound import console as actions
from reminders.inbound.duty_store import authored_uids, save_duty, taken_uids
from reminders.runtime import Runtime
from reminders.store.admin_access import (
    SESSION_LENGTH,
    Admin,
    login_holder,
    open_session,
    redeem_login,
    revoke_session,
    session_admin,
)
from reminders.store.authored import UidTaken
from reminders.store.feed_tokens import feed_links
from reminders.text import shown
from reminders.views import console_data
from reminders.views.console_pages import render
from reminders.views.duty_draft import DraftForm, DraftRefused, draft_duty
from reminders.views.duty_words import audience_words, next_occurrences, rhythm_words
from reminders.views.invite_sheet import make_cards, qr_png, render_html

log = logging.getLogger(__name__)
COOKIE = "reminders_admin"
HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff",
           "X-Frame-Options": "DENY", "X-Robots-Tag": "noindex, nofollow",
           "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                                      "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"}
MAX_FORM_BYTES = 64 * 1024
# What a page says after a change (by key: a link cannot make the console say anything else).
NOTICES = {"saved": "Đã lưu.", "retried": "Đã đưa tin vào hàng chờ gửi lại."}
EVENT_WORDS = {"sent": "đã gửi", "failed": "gửi lỗi", "retry": "gửi lại", "missed": "quá hạn", "cancelled": "đã hủy",
               "held": "chờ hết giờ yên lặng", "ack": "xác nhận", "on-behalf": "xác nhận thay", "answer": "trả lời",
               "snooze": "nhắc lại sau", "followup-cancelled": "bỏ nhắc thêm", "console-login": "đăng nhập",
               "console-logout": "đăng xuất", "duty-create": "tạo nhiệm vụ", "duty-edit": "sửa nhiệm vụ",
               "duty-pause": "tạm dừng nhiệm vụ", "duty-resume": "tiếp tục nhiệm vụ", "duty-delete": "xóa nhiệm vụ",
               "duty-import": "nhập nhiệm vụ", "roster-member-added": "thêm người",
               "roster-leader-changed": "đổi tổ trưởng", "invites": "tạo mã mời", "feed-created": "tạo liên kết lịch",
               "feed-rotated": "đổi liên kết lịch", "feed-revoked": "thu hồi liên kết lịch"}
STATUSES = {"pending": "chờ gửi", "claimed": "đang gửi", "sent": "đã gửi", "failed": "lỗi", "missed": "quá hạn",
            "cancelled": "đã hủy"}


@dataclass
class ConsoleConfig:
    """Where the console writes: the calendars directory and the roster file. After a change
    this process loads them again at once; the other processes' hot reload follows."""

    calendars: Path
    roster_path: Path


def _reload(rt: Runtime, config: ConsoleConfig) -> None:
    """The files and the authored duties again, at once; if another file on disk is invalid,
    the version in use stays and the hot-reload watcher tells the admins, as for any edit."""
    try:
        _, authored_sources = read_authored(rt.engine)
        duties, roster = load_definitions(str(config.calendars), str(config.roster_path), authored_sources)
    except InvalidInput as exc:
        log.warning("the console's change is saved, but the definitions on disk do not load: %s", exc)
        return
    rt.definitions.swap(duties, roster)


@dataclass(frozen=True)
class Signed:
    admin: Admin
    person: Person
    session_id: str
    csrf: str


async def read_form(request: Request) -> FormData:
    """A form post (application/x-www-form-urlencoded, the only kind the pages send), at
    most MAX_FORM_BYTES; anything else reads as an empty form (and so has no CSRF token)."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        return FormData()
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return FormData()
    try:
        fields: list[tuple[str, str | UploadFile]] = list(
            parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=200))
        return FormData(fields)
    except (UnicodeDecodeError, ValueError):
        return FormData()


def _page(page: str, status: int = 200, **values: Any) -> HTMLResponse:
    return HTMLResponse(render(page, **values), status_code=status, headers=HEADERS)


def console_routes(rt: Runtime, config: ConsoleConfig) -> list[BaseRoute]:
    def secure() -> bool:  # behind https, the cookie is never sent over plain http
        return rt.public_url.startswith("https://")

    def signed(request: Request) -> Signed | None:
        """The request's live session of a current admin of its commune, or None."""
        if rt.sealer is None:
            return None
        value = request.cookies.get(COOKIE, "")
        session_id, _, signature = value.partition(".")
        if not session_id or not rt.sealer.verify("session", session_id, signature):
            return None
        admin = session_admin(rt.engine, session_id, rt.clock())
        if admin is None:
            return None
        person = rt.roster.people.get(admin.person_id)
        if person is None or person.role != "admin" or person.commune_id != admin.commune_id:
            return None  # no longer an admin of that commune: the session is worth nothing
        return Signed(admin, person, session_id, rt.sealer.sign("csrf", session_id))

    def common(who: Signed, title: str) -> dict[str, Any]:
        commune = rt.roster.communes.get(who.admin.commune_id)
        return {"title": title, "admin_name": shown(who.person.name), "csrf": who.csrf,
                "commune_name": shown(commune.name) if commune else who.admin.commune_id}

    def refused(who: Signed | None, reason: str, status: int = 403) -> HTMLResponse:
        values = common(who, "Không có quyền") if who else {"title": "Không có quyền"}
        return _page("refused", status, reason=reason, **values)

    def guarded(handler: Callable[..., Response]) -> Callable[[Request], Awaitable[Response]]:
        """Signed in, or to the sign-in page; a form post also needs its CSRF token."""
        async def endpoint(request: Request) -> Response:
            who: Signed | None = await run_in_thread(signed, request)  # a database read: off the event loop
            if who is None:
                return RedirectResponse("/admin/signin", status_code=303, headers={"Cache-Control": "no-store"})
            form = None
            if request.method == "POST":
                form = await read_form(request)
                token = str(form.get("csrf") or "")
                if not rt.sealer or not rt.sealer.verify("csrf", who.session_id, token):
                    return refused(who, "Biểu mẫu đã cũ hoặc không hợp lệ (thiếu mã chống giả mạo). Hãy tải lại trang.")
            response: Response = await run_in_thread(handler, request, who, form)
            return response
        return endpoint

    # -- sign-in -------------------------------------------------------------------------
    def signin(request: Request) -> Response:
        if signed(request) is not None:
            return RedirectResponse("/admin/duties", status_code=303)
        return _page("signin", title="Đăng nhập trang quản trị")

    def link_problem(request: Request, token: str) -> tuple[Admin | None, str]:
        holder = login_holder(rt.engine, token, rt.clock())
        if rt.sealer is None:
            return None, "Máy chủ chưa bật trang quản trị (chưa đặt REMINDERS_SECRET_KEY)."
        if holder is None:
            return None, "Liên kết không đúng, đã được dùng, hoặc đã quá 10 phút."
        who = signed(request)
        if who is not None and who.admin.person_id != holder.person_id:
            return None, "Liên kết này dành cho một quản trị viên khác; trình duyệt này đang đăng nhập bằng tên bạn."
        return holder, ""

    def login_page(request: Request) -> Response:
        holder, reason = link_problem(request, request.path_params["token"])
        if holder is None:
            return _page("login", 403, title="Đăng nhập", reason=reason)
        person = rt.roster.people.get(holder.person_id)
        commune = rt.roster.communes.get(holder.commune_id)
        return _page("login", title="Đăng nhập", holder=shown(person.name) if person else holder.person_id,
                     place=shown(commune.name) if commune else holder.commune_id)

    def login(request: Request) -> Response:
        token = request.path_params["token"]
        holder, reason = link_problem(request, token)
        person = rt.roster.people.get(holder.person_id) if holder else None
        if holder is not None and (person is None or person.role != "admin" or person.commune_id != holder.commune_id):
            holder, reason = None, "Người này không còn là quản trị viên của xã."
        if holder is None or rt.sealer is None:
            return _page("login", 403, title="Đăng nhập", reason=reason)
        now = rt.clock()
        with rt.engine.begin() as conn:  # spent, the session opened and audited together
            admin = redeem_login(conn, token, now)
            if admin is None:
                return _page("login", 403, title="Đăng nhập", reason="Liên kết đã được dùng.")
            session_id = open_session(conn, admin, now)
            actions.audit(conn, admin, "console-login", now, "signed in to the web console")
        response = RedirectResponse("/admin/duties", status_code=303, headers={"Cache-Control": "no-store"})
        response.set_cookie(COOKIE, f"{session_id}.{rt.sealer.sign('session', session_id)}",
                            max_age=int(SESSION_LENGTH.total_seconds()), path="/admin", secure=secure(),
                            httponly=True, samesite="lax")
        return response

    def logout(request: Request, who: Signed, form: FormData | None) -> Response:
        now = rt.clock()
        with rt.engine.begin() as conn:
            revoke_session(conn, who.session_id, now)
            actions.audit(conn, who.admin, "console-logout", now, "signed out")
        response = RedirectResponse("/admin/signin", status_code=303)
        response.delete_cookie(COOKIE, path="/admin", secure=secure(), httponly=True, samesite="lax")
        return response

    def home(request: Request, who: Signed, form: FormData | None) -> Response:
        return RedirectResponse("/admin/duties", status_code=303)

    # -- duties --------------------------------------------------------------------------
    def duty_rows(who: Signed) -> list[dict[str, Any]]:
        roster, now = rt.roster, rt.clock()
        zone = console_data.commune_zone(roster, who.admin.commune_id)
        own = {team.id for team in roster.teams_in(who.admin.commune_id)}
        rows = []
        written_here = authored_uids(rt)
        for duty in sorted(rt.duties.values(), key=lambda d: d.uid):
            if not any(duty.applies_to(tid, who.admin.commune_id) for tid in own):
                continue
            nxt = next_occurrences(duty, now, 1)
            rows.append({"uid": duty.uid, "summary": duty.summary, "rhythm": rhythm_words(duty, "vi"),
                         "audience": audience_words(duty, roster, "vi"), "from_file": duty.uid not in written_here,  # files: the province's
                         "next": format_when(nxt[0].start, "vi", zone, all_day=nxt[0].all_day) if nxt else "—"})
        return rows

    def draft_form(form: FormData | None) -> DraftForm:
        if form is None:
            return DraftForm("", "")
        return DraftForm(title=str(form.get("title") or ""), rhythm=str(form.get("rhythm") or ""),
                         remind=str(form.get("remind") or ""), teams=tuple(str(v) for v in form.getlist("teams")),
                         address=str(form.get("address") or "group"), checkin=str(form.get("checkin") or ""),
                         answer=str(form.get("answer") or "text"))

    def duties_page(who: Signed, form: DraftForm, *, status: int = 200, **values: Any) -> Response:
        teams = [{"id": t.id, "name": shown(t.name)} for t in rt.roster.teams_in(who.admin.commune_id)]
        return _page("duties", status, duties=duty_rows(who), teams=teams, form=form,
                     **common(who, "Nhiệm vụ"), **values)

    def duties(request: Request, who: Signed, form: FormData | None) -> Response:
        return duties_page(who, DraftForm("", "", address="group"), notice=NOTICES.get(request.query_params.get("ok", ""), ""))

    def preview(request: Request, who: Signed, form: FormData | None) -> Response:
        typed = draft_form(form)
        try:
            draft = draft_duty(typed, rt.roster, who.admin.commune_id, taken_uids(rt, config.calendars), rt.clock())
        except DraftRefused as exc:
            return duties_page(who, typed, status=422, problems=exc.problems)
        return duties_page(who, typed, draft=draft)

    def save(request: Request, who: Signed, form: FormData | None) -> Response:
        typed = draft_form(form)
        now = rt.clock()
        try:  # drafted again from the words: what is saved is what the engine reads now
            draft = draft_duty(typed, rt.roster, who.admin.commune_id, taken_uids(rt, config.calendars), now)
            save_duty(rt, config.calendars, draft, who.admin.commune_id, who.admin.person_id, now)
        except DraftRefused as exc:
            return duties_page(who, typed, status=422, problems=exc.problems)
        except (DutyExists, UidTaken) as exc:
            return duties_page(who, typed, status=409, problems=[str(exc)])
        except NotAllowed as exc:
            return duties_page(who, typed, status=403, problems=[exc.said(lambda m: t("vi", m))])
        except InvalidInput as exc:
            return duties_page(who, typed, status=422, problems=_said(exc))
        _reload(rt, config)
        return RedirectResponse("/admin/duties?ok=saved", status_code=303)

    # -- teams and people ----------------------------------------------------------------
    def teams_values(who: Signed) -> list[dict[str, Any]]:
        roster = rt.roster
        return [{"id": team.id, "name": shown(team.name),
                 "people": [{"id": p.id, "name": shown(p.name), "role": p.role} for p in roster.members(team)]}
                for team in roster.teams_in(who.admin.commune_id)]

    def teams(request: Request, who: Signed, form: FormData | None, **values: Any) -> Response:
        return _page("teams", values.pop("status", 200), teams=teams_values(who), **common(who, "Tổ và người"),
                     notice=NOTICES.get(request.query_params.get("ok", ""), ""), **values)

    def roster_change(request: Request, who: Signed, change: Callable[[], object], event: str, detail: str,
                      team_id: str) -> Response:
        try:
            change()
        except InvalidInput as exc:
            return teams(request, who, None, status=422, problems=_said(exc))
        actions.record(rt, who.admin, event, rt.clock(), detail, team_id=team_id)
        _reload(rt, config)
        return RedirectResponse("/admin/teams?ok=saved", status_code=303)

    def add_person(request: Request, who: Signed, form: FormData | None) -> Response:
        assert form is not None
        fields = {key: str(form.get(key) or "") for key in ("person_id", "name", "role", "phone", "telegram")}
        team_id = str(form.get("team") or "")
        return roster_change(request, who, lambda: add_member(
            config.roster_path, config.calendars, rt.roster, who.admin.commune_id, team_id, fields),
            "roster-member-added", f"{fields['person_id']} ({fields['name']}) added to {team_id}", team_id)

    def set_leader(request: Request, who: Signed, form: FormData | None) -> Response:
        assert form is not None
        team_id, person_id = str(form.get("team") or ""), str(form.get("person") or "")
        team = rt.roster.teams.get(team_id)
        before = ", ".join(p.id for p in rt.roster.leaders(team)) if team else ""
        return roster_change(request, who, lambda: change_leader(
            config.roster_path, config.calendars, rt.roster, who.admin.commune_id, team_id, person_id),
            "roster-leader-changed", f"leader of {team_id}: before {before or '-'}, after {person_id}", team_id)

    # -- invites -------------------------------------------------------------------------
    def invites(request: Request, who: Signed, form: FormData | None) -> Response:
        teams = [{"id": t.id, "name": shown(t.name), "count": len(t.member_ids)}
                 for t in rt.roster.teams_in(who.admin.commune_id)]
        return _page("invites", teams=teams, **common(who, "Mã mời"))

    async def invite_sheet(request: Request) -> Response:
        who: Signed | None = await run_in_thread(signed, request)
        if who is None:
            return RedirectResponse("/admin/signin", status_code=303)
        form = await read_form(request)
        if rt.sealer is None or not rt.sealer.verify("csrf", who.session_id, str(form.get("csrf") or "")):
            return refused(who, "Biểu mẫu đã cũ hoặc không hợp lệ (thiếu mã chống giả mạo). Hãy tải lại trang.")
        team = rt.roster.teams.get(str(form.get("team") or ""))
        if team is None or team.commune_id != who.admin.commune_id:
            return refused(who, "Tổ này không thuộc xã của bạn.")
        adapter = next((a for a in rt.adapters.values() if implements(a, "invite_route")), None)
        people = rt.roster.members(team)
        try:
            codes = await run_in_thread(actions.make_invites, rt, who.admin, [p.id for p in people], rt.clock())
        except actions.Refused:
            return refused(who, "Người này không thuộc xã của bạn.")
        routes = {pid: (await adapter.invite_route(code) if adapter else None) or InviteRoute()
                  for pid, code in codes.items()}
        cards = make_cards(rt.roster, people, codes, routes, title_of(adapter) if adapter else "")
        images = {card.png_name: qr_png(card.link) for card in cards if card.link}
        return HTMLResponse(render_html(cards, images, f"Phiếu mời · {shown(team.name)}", "vi"), headers=HEADERS)

    # -- deliveries ----------------------------------------------------------------------
    def deliveries(request: Request, who: Signed, form: FormData | None, **values: Any) -> Response:
        today, failed = console_data.deliveries(rt.engine, rt.roster, who.admin.commune_id, rt.clock())
        return _page("deliveries", values.pop("status", 200), today=today, failed=failed, statuses=STATUSES,
                     notice=NOTICES.get(request.query_params.get("ok", ""), ""), **common(who, "Tin gửi"), **values)

    def retry(request: Request, who: Signed, form: FormData | None) -> Response:
        assert form is not None
        try:
            actions.retry_delivery(rt, who.admin, str(form.get("code") or ""), rt.clock())
        except actions.Refused:
            return refused(who, "Không có tin lỗi này trong các tổ của xã bạn.")
        return RedirectResponse("/admin/deliveries?ok=retried", status_code=303)

    # -- feeds ---------------------------------------------------------------------------
    def feeds(request: Request, who: Signed, form: FormData | None, **values: Any) -> Response:
        commune_id = who.admin.commune_id
        commune = rt.roster.communes.get(commune_id)
        scopes = [(f"commune:{commune_id}", f"Cả xã · {shown(commune.name) if commune else commune_id}")]
        scopes += [(f"team:{t.id}", shown(t.name)) for t in rt.roster.teams_in(commune_id)]
        return _page("feeds", values.pop("status", 200), feeds=console_data.feeds(rt.engine, rt.roster, commune_id),
                     scopes=scopes, **common(who, "Lịch riêng"), **values)

    def feed_change(request: Request, who: Signed, form: FormData | None) -> Response:
        assert form is not None
        action, now = request.path_params["action"], rt.clock()
        if action not in ("create", "rotate", "revoke"):
            return refused(who, "Không có thao tác này.", 404)
        try:
            if action == "create":
                token: str | None = actions.create_feed(rt, who.admin, str(form.get("scope") or ""),
                                                        str(form.get("label") or "").strip(), now)
            else:
                raw = str(form.get("id") or "")
                token_id = int(raw) if raw.isdecimal() else -1
                if action == "rotate":
                    token = actions.rotate_feed(rt, who.admin, token_id, now)
                else:
                    actions.revoke_feed(rt, who.admin, token_id, now)
                    token = None
        except actions.Refused:
            return refused(who, "Liên kết này không thuộc xã của bạn, hoặc đã bị thu hồi.")
        if token is None:
            return feeds(request, who, None, notice="Đã thu hồi liên kết.")
        https, webcal = feed_links(rt.public_url, token)
        return feeds(request, who, None, notice="Đã tạo liên kết mới.", new_link=https, new_webcal=webcal)

    # -- audit ---------------------------------------------------------------------------
    def audit(request: Request, who: Signed, form: FormData | None) -> Response:
        return _page("audit", words=EVENT_WORDS, events=console_data.audit_trail(rt.engine, rt.roster, who.admin.commune_id),
                     **common(who, "Nhật ký"))

    def get(path: str, handler: Callable[..., Response]) -> Route:
        return Route(path, guarded(handler), methods=["GET", "HEAD"])

    def post(path: str, handler: Callable[..., Response]) -> Route:
        return Route(path, guarded(handler), methods=["POST"])

    return [
        get("/admin", home), Route("/admin/signin", signin), Route("/admin/login/{token}", login_page),
        Route("/admin/login/{token}", login, methods=["POST"]), post("/admin/logout", logout),
        get("/admin/duties", duties), post("/admin/duties/preview", preview), post("/admin/duties/save", save),
        get("/admin/teams", teams), post("/admin/teams/add", add_person), post("/admin/teams/leader", set_leader),
        get("/admin/invites", invites), Route("/admin/invites", invite_sheet, methods=["POST"]),
        get("/admin/deliveries", deliveries), post("/admin/deliveries/retry", retry),
        get("/admin/feeds", feeds), post("/admin/feeds/{action:str}", feed_change), get("/admin/audit", audit),
    ]


async def run_in_thread(func: Callable[..., Any], *args: Any) -> Any:
    """Database and file work off the event loop."""
    return await run_in_threadpool(func, *args)


def _said(exc: InvalidInput) -> list[str]:
    """Each problem in Vietnamese, as the console speaks."""
    return [p.text(lambda m: t("vi", m)) for p in exc.problems]
