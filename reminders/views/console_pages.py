"""The web console's pages: server-rendered HTML (jinja2, autoescaped), phone width first,
no JavaScript. The words are Vietnamese: the console is for commune admins."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

TEMPLATES = Path(__file__).with_name("console_templates")
_env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                   trim_blocks=True, lstrip_blocks=True)


def render(page: str, **values: Any) -> str:
    """`page`.html with `values`; every value from the roster, duties or forms is escaped."""
    return _env.get_template(f"{page}.html").render(page=page, **values)
