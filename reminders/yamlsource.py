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
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    return None if node is None else _convert(node)
