"""Reading the roster's YAML with the line of every mapping, key and list, so a problem can
say file:line. ruamel.yaml (YAML 1.2, the same library `teams import` writes the roster
with) refuses duplicate keys and points at syntax errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.resolver import VersionedResolver

__all__ = ["Located", "LocatedList", "MarkedYAMLError", "YAMLError", "load_located_yaml", "reads_as_text"]


class Located(dict[str, Any]):
    """A mapping from the YAML file that knows its own line and the line of each key."""

    line: int
    key_lines: dict[str, int]


class LocatedList(list[Any]):
    line: int


def _convert(node: object) -> Any:
    if isinstance(node, CommentedMap):
        result = Located()
        result.line = node.lc.line + 1
        result.key_lines = {}
        for key, value in node.items():
            result[str(key)] = _convert(value)
            result.key_lines[str(key)] = node.lc.key(key)[0] + 1
        return result
    if isinstance(node, CommentedSeq):
        items = LocatedList(_convert(item) for item in node)
        items.line = node.lc.line + 1
        return items
    if isinstance(node, str):
        return str(node)  # ruamel's string subclasses (quoted scalars) as plain text
    return node


def load_located_yaml(path: Path) -> Any:
    """Parse YAML into Located dicts; raises a YAMLError (with a mark where there is one)."""
    text = path.read_text(encoding="utf-8")
    return _convert(YAML(typ="rt", pure=True).load(text))


def reads_as_text(value: str) -> bool:
    """Whether `value`, written unquoted, is read back as the same text (not a number,
    a date, true/false or null)."""
    resolved = VersionedResolver().resolve(ScalarNode, value, (True, False))
    return resolved == "tag:yaml.org,2002:str" and value.strip() == value

