"""A line-level pass over .ics text: syntax checks and where each property sits.

icalendar parses well but forgets line numbers; admins need "file:line" to fix a typo.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import icalendar

from reminders.errors import Problem

_PARAM = r';[A-Za-z0-9-]+=(?:"[^"]*"|[^";:,]*)(?:,(?:"[^"]*"|[^";:,]*))*'
CONTENT_LINE = re.compile(rf"^(?P<name>[A-Za-z0-9-]+)(?:{_PARAM})*:(?P<value>.*)$", re.DOTALL)


@dataclass
class ComponentLines:
    """Where a component and its properties start in the file (first occurrence of each)."""

    name: str
    line: int
    props: dict[str, int] = field(default_factory=dict)
    children: list[ComponentLines] = field(default_factory=list)
    repeats: list[tuple[str, int]] = field(default_factory=list)  # (property, line) of each later occurrence
    uid: str = ""

    def line_of(self, prop: str) -> int:
        return self.props.get(prop.upper(), self.line)


def recur_text(rule: icalendar.vRecur) -> str:
    """An RRULE's value as text ('FREQ=WEEKLY;BYDAY=FR')."""
    data: bytes = rule.to_ical()  # type: ignore[no-untyped-call]  # icalendar leaves vRecur.to_ical unannotated
    return data.decode()


def unfold(text: str) -> list[tuple[int, str]]:
    """Logical content lines with the physical line number each starts on."""
    logical: list[tuple[int, str]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        if raw[:1] in (" ", "\t") and logical:
            start, previous = logical[-1]
            logical[-1] = (start, previous + raw[1:])
        elif raw.strip():
            logical.append((number, raw))
    return logical


def scan(text: str, file: str) -> tuple[list[ComponentLines], list[Problem]]:
    """Check the content-line grammar and BEGIN/END nesting; index top-level components."""
    problems: list[Problem] = []
    top: list[ComponentLines] = []
    stack: list[ComponentLines] = []
    for number, line in unfold(text):
        match = CONTENT_LINE.match(line)
        if not match:
            shown = line if len(line) <= 60 else line[:57] + "..."
            problems.append(Problem(file, number, f"not an iCalendar content line: {shown!r} "
                                                  "(expected NAME;PARAM=VALUE:VALUE)"))
            continue
        name, value = match["name"].upper(), match["value"].strip().upper()
        if name == "BEGIN":
            component = ComponentLines(value, number)
            if not stack and value != "VCALENDAR":
                problems.append(Problem(file, number, f"BEGIN:{value} outside BEGIN:VCALENDAR"))
            if len(stack) == 1:
                top.append(component)
            elif len(stack) > 1:
                stack[-1].children.append(component)
            stack.append(component)
        elif name == "END":
            if value not in (c.name for c in stack):
                expected = f"END:{stack[-1].name}" if stack else "nothing"
                problems.append(Problem(file, number, f"END:{value} does not close anything "
                                                      f"(expected {expected})"))
                continue
            # END of an outer component: whatever is still open inside it was never closed.
            while stack[-1].name != value:
                inner = stack.pop()
                problems.append(Problem(file, inner.line, f"BEGIN:{inner.name} is never closed "
                                                          f"(END:{value} on line {number} comes first)"))
            stack.pop()
        elif not stack:
            problems.append(Problem(file, number, f"property {name} outside BEGIN:VCALENDAR"))
        else:
            if name in stack[-1].props:
                stack[-1].repeats.append((name, number))
            stack[-1].props.setdefault(name, number)
            if name == "UID" and not stack[-1].uid:
                stack[-1].uid = match["value"].strip()
    for component in stack:
        problems.append(Problem(file, component.line, f"BEGIN:{component.name} is never closed"))
    return top, problems
