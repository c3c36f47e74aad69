"""Reading the roster's YAML with the line of every mapping, key and list, so a problem can
say file:line.

Every value is read as the text the admin typed: `id: 08`, `telegram: 0912345678`,
`name: Yes` and `quiet_hours: 21:00-06:30` stay "08", "0912345678", "Yes" and the time range
(YAML's implicit numbers, booleans and sexagesimals would turn ids and chat addresses into
other values); only an empty value, `~` or `null` is nothing. ruamel.yaml parses (the same
library `teams import` writes the roster with); duplicate keys are refused, and a syntax error
or a forbidden character comes back with its line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import MarkedYAMLError, StreamMark, YAMLError
from ruamel.yaml.events import AliasEvent, Event, ScalarEvent
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.resolver import VersionedResolver

__all__ = ["Located", "LocatedList", "MarkedYAMLError", "YAMLError", "load_located_yaml", "reads_as_text"]

NULL_TAG = "tag:yaml.org,2002:null"
MERGE_KEYS = "merge keys (<<) are not read here: write each entry's fields out"


class Located(dict[str, Any]):
    """A mapping from the YAML file that knows its own line and the line of each key."""

    line: int
    key_lines: dict[str, int]


class LocatedList(list[Any]):
    line: int


def _convert(node: Node) -> Any:
    if isinstance(node, MappingNode):
        result = Located()
        result.line = node.start_mark.line + 1
        result.key_lines = {}
        for key_node, value_node in node.value:
            key = str(_convert(key_node))
            if key == "<<" and key_node.style is None:
                raise MarkedYAMLError(problem=MERGE_KEYS,
                                      problem_mark=key_node.start_mark)
            if key in result:
                raise MarkedYAMLError("while reading a mapping", node.start_mark,
                                      f"found duplicate key '{key}'", key_node.start_mark)
            result[key] = _convert(value_node)
            result.key_lines[key] = key_node.start_mark.line + 1
        return result
    if isinstance(node, SequenceNode):
        items = LocatedList(_convert(item) for item in node.value)
        items.line = node.start_mark.line + 1
        return items
    if isinstance(node, ScalarNode) and node.tag == NULL_TAG and node.style is None:
        return None
    return str(node.value)


def load_located_yaml(path: Path) -> Any:
    """Parse YAML into Located dicts; raises a YAMLError (with the line where there is one)."""
    text = path.read_text(encoding="utf-8")
    try:
        _refuse_aliases(text)
        node = YAML(typ="safe", pure=True).compose(text)
    except ReaderError as exc:  # a control character: has a position, not a line
        mark = StreamMark(str(path), exc.position, text.count("\n", 0, exc.position), 0)
        problem = f"unacceptable character #x{exc.character:04x}: {exc.reason}"
        raise MarkedYAMLError(problem=problem, problem_mark=mark) from None
    return None if node is None else _convert(node)


def _refuse_aliases(text: str) -> None:
    """Aliases (`*name`) are refused before anything is built: a roster needs none, and
    eleven lines of nested aliases expand to billions of entries (an "alias bomb")."""
    previous: Event | None = None
    for event in YAML(typ="safe", pure=True).parse(text):
        if isinstance(event, AliasEvent) and isinstance(previous, ScalarEvent) \
                and previous.value == "<<" and previous.style is None:
            raise MarkedYAMLError(problem=MERGE_KEYS, problem_mark=previous.start_mark)
        if isinstance(event, AliasEvent):
            raise MarkedYAMLError(problem=f"YAML aliases (*{event.anchor}) are not read here: "
                                          "write each entry's fields out", problem_mark=event.start_mark)
        previous = event


def reads_as_text(value: str) -> bool:
    """Whether `value`, written unquoted, is plain text to any YAML reader (not a number,
    a date, true/false or null): what `teams import` may write without quotes."""
    resolved = VersionedResolver().resolve(ScalarNode, value, (True, False))
    return resolved == "tag:yaml.org,2002:str" and value.strip() == value
