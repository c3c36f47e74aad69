"""A printable sheet of invite cards for a village meeting: name, team, code, QR code.

Many team members have never typed a bot command. At the meeting each gets a card: they
scan the QR code with the phone camera, the chat app opens the bot, they press Start, and
the one-time code links their account. Where the platform has no deep links that carry a
code (Zalo), the QR code opens the chat and the card says what to send (`/start <code>`);
where there is no link at all, the card names the bot to look for. How is the adapter's
answer (`Adapter.invite_route`). The sheet is an A4 HTML page (print it from any browser)
with the QR images embedded, and the same QR codes as PNG files beside it.
The codes are live until used: the database keeps only their hashes, so this sheet is the
only copy -- hand the cards out, then delete the files.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import segno

from reminders.adapters.base import InviteRoute
from reminders.definitions.roster import Person, Roster
from reminders.files import inside, write_atomic
from reminders.i18n import N_, t

QR_ERROR = "m"  # 15% recovery: survives a crease or a smudge on a printed card
QR_SCALE = 8  # pixels per module in the PNG files
QR_BORDER = 4  # the quiet zone the QR standard asks for
SCAN = N_("Open the phone camera and point it at the QR code.")
SEND = N_("Send this message: /start {code}")
STEPS = {  # by what the platform offers: a deep link, a link to the chat, or neither
    "deep": (SCAN, N_("Tap the link: {platform} opens the reminder bot."),
             N_("Press \"Start\". The bot greets you by name.")),
    "chat": (SCAN, N_("Tap the link: {platform} opens the chat with {name}."), SEND),
    "none": (N_("Open {platform} and find {name}."), SEND, N_("The bot greets you by name.")),
}
KEEP_PRIVATE = N_("This code works once and only for you. Do not share it.")


@dataclass(frozen=True)
class Card:
    person: Person
    team_name: str
    code: str
    link: str | None  # what the QR code opens: a deep link, else the chat; None: no QR code
    png_name: str
    route: InviteRoute = InviteRoute()
    platform: str = "Telegram"

    @property
    def kind(self) -> str:
        return "deep" if self.route.link else "chat" if self.route.chat_link else "none"

    def steps(self, language: str) -> list[str]:
        """The card's steps in the reader's language."""
        return [t(language, step, platform=self.platform, name=self.route.name or self.platform, code=self.code)
                for step in STEPS[self.kind]]

    def how(self, language: str) -> str:
        """One line: the deep link, or what to send where."""
        if self.route.link:
            return self.route.link
        line = t(language, "send \"/start {code}\" to {name} on {platform}", code=self.code,
                 name=self.route.name or self.platform, platform=self.platform)
        return f"{line}: {self.route.chat_link}" if self.route.chat_link else line


def select_people(roster: Roster, person_ids: Iterable[str] = (), team_ids: Iterable[str] = (),
                  commune_ids: Iterable[str] = ()) -> tuple[list[Person], list[str]]:
    """The people named, plus every member of the teams and of the communes' teams, in
    roster order without repeats; and the ids that are not on the roster."""
    unknown: list[str] = []
    chosen: dict[str, Person] = {}
    for pid in person_ids:
        if pid in roster.people:
            chosen.setdefault(pid, roster.people[pid])
        else:
            unknown.append(pid)
    for tid in team_ids:
        if tid not in roster.teams:
            unknown.append(tid)
            continue
        for person in roster.members(roster.teams[tid]):
            chosen.setdefault(person.id, person)
    for cid in commune_ids:
        if cid not in roster.communes:
            unknown.append(cid)
            continue
        for team in roster.teams_in(cid):
            for person in roster.members(team):
                chosen.setdefault(person.id, person)
    return list(chosen.values()), unknown


def qr_png(payload: str) -> bytes:
    """The QR code of `payload` as PNG bytes (segno picks the smallest version that fits)."""
    buffer = io.BytesIO()
    segno.make_qr(payload, error=QR_ERROR).save(buffer, kind="png", scale=QR_SCALE, border=QR_BORDER)
    return buffer.getvalue()


def make_cards(roster: Roster, people: list[Person], codes: dict[str, str], routes: dict[str, InviteRoute],
               platform: str) -> list[Card]:
    """One card per person: their code, and how to redeem it on `platform` (`routes`, by person)."""
    cards = []
    for person in people:
        team = roster.teams.get(person.team_id or "")
        commune = roster.communes.get(person.commune_id or "")
        place = team.name if team else commune.name if commune else ""
        route = routes[person.id]
        cards.append(Card(person, place, codes[person.id], route.link or route.chat_link, f"{person.id}.png",
                          route, platform))
    return cards


def render_html(cards: list[Card], images: dict[str, bytes], title: str, language: str) -> str:
    """One A4 page per eight cards; each card cut out along the dashed lines."""
    blocks = []
    for card in cards:
        lang = card.person.language
        steps = "".join(f"<li>{html.escape(step)}</li>" for step in card.steps(lang))
        code_label, link_label = t(lang, "Code"), t(lang, "No camera? Open this link:")
        private = t(lang, KEEP_PRIVATE)
        image = link = ""
        if card.link:
            data = base64.b64encode(images[card.png_name]).decode("ascii")
            image = f'\n  <img src="data:image/png;base64,{data}" alt="QR" width="132" height="132">'
            link = (f'\n  <p class="link">{html.escape(link_label)} '
                    f'<a href="{html.escape(card.link)}">{html.escape(card.link)}</a></p>')
        blocks.append(f"""<section class="card" lang="{lang}">{image}
  <div class="who">
    <h2>{html.escape(card.person.name)}</h2>
    <p class="team">{html.escape(card.team_name)}</p>
    <p class="code">{html.escape(code_label)}: <b>{html.escape(card.code)}</b></p>
  </div>
  <ol>{steps}</ol>{link}
  <p class="private">{html.escape(private)}</p>
</section>""")
    return f"""<!DOCTYPE html>
<html lang="{language}">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>
  @page {{ size: A4; margin: 10mm; }}
  body {{ font-family: "Noto Sans", "Segoe UI", Arial, sans-serif; margin: 0; color: #000; }}
  h1 {{ font-size: 14pt; margin: 0 0 4mm; }}
  .cards {{ display: grid; grid-template-columns: 1fr 1fr; gap: 0; }}
  .card {{ box-sizing: border-box; height: 68mm; padding: 4mm; border: 1px dashed #888;
          break-inside: avoid; page-break-inside: avoid; overflow: hidden; font-size: 9pt; }}
  .card img {{ float: left; width: 34mm; height: 34mm; margin-right: 3mm; image-rendering: pixelated; }}
  .card h2 {{ font-size: 12pt; margin: 0 0 1mm; }}
  .card p {{ margin: 0 0 1mm; }}
  .card .code b {{ font-family: monospace; font-size: 11pt; letter-spacing: 0.5px; }}
  .card ol {{ clear: both; margin: 2mm 0 1mm; padding-left: 5mm; }}
  .card .link {{ font-size: 7pt; word-break: break-all; }}
  .card .private {{ font-size: 7pt; font-style: italic; }}
  .card:nth-child(8n) {{ break-after: page; page-break-after: always; }}
  @media print {{ h1 {{ display: none; }} a {{ color: #000; text-decoration: none; }} }}
</style>
</head>
<body>
<h1>{html.escape(title)}</h1>
<main class="cards">
{chr(10).join(blocks)}
</main>
</body>
</html>
"""


def write_sheet(directory: str | Path, cards: list[Card], *, title: str, language: str = "vi") -> Path:
    """Write index.html and one <person id>.png per card into `directory`; returns the page."""
    directory = Path(directory)
    images = {card.png_name: qr_png(card.link) for card in cards if card.link}
    targets = {name: inside(directory, name) for name in images}  # every name checked before any write
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in images.items():
        write_atomic(targets[name], data, mode=0o600)  # live codes: readable by the admin only
    page = directory / "index.html"
    write_atomic(page, render_html(cards, images, title, language).encode("utf-8"), mode=0o600)
    return page
