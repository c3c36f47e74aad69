"""YAML reading that remembers line numbers, so roster errors can say file:line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class Located(dict):
    """A mapping from the YAML file that knows its own line and the line of each key."""

    line: int
    key_lines: dict[str, int]


class LocatedList(list):
    line: int


def _convert(node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        result = Located()
        result.line = node.start_mark.line + 1
        result.key_lines = {}
        for key_node, value_node in node.value:
            key = _convert(key_node)
            if str(key) in result:  # PyYAML would silently keep only the last one
                raise yaml.MarkedYAMLError("while reading a mapping", node.start_mark,
                                           f"found duplicate key '{key}'", key_node.start_mark)
            result[str(key)] = _convert(value_node)
            result.key_lines[str(key)] = key_node.start_mark.line + 1
        return result
    if isinstance(node, yaml.SequenceNode):
        items = LocatedList(_convert(item) for item in node.value)
        items.line = node.start_mark.line + 1
        return items
    return yaml.SafeLoader("").construct_object(node, deep=True)


def load_located_yaml(path: Path) -> Any:
    """Parse YAML into Located dicts; raises yaml.YAMLError with a mark on syntax errors."""
    text = path.read_text(encoding="utf-8")
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.reader.ReaderError as exc:  # a control character: has a position, not a line
        mark = yaml.Mark(str(path), exc.position, text.count("\n", 0, exc.position), 0, None, None)
        problem = f"unacceptable character #x{exc.character:04x}: {exc.reason}"
        raise yaml.MarkedYAMLError(problem=problem, problem_mark=mark) from None
    return None if node is None else _convert(node)
