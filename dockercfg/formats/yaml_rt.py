"""YAML read and written through ruamel.yaml's round-trip mode: comments and order survive.

ruamel.yaml is imported on the first parse only.
"""

from __future__ import annotations

import io
from typing import Any

from dockercfg.errors import EnvironmentProblem


def _yaml() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def parse(text: bytes | None, shown: str) -> Any:
    """The top mapping (empty for an absent or empty file); unparsable input or a top level
    that is not a mapping raises EnvironmentProblem naming file:line:column."""
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    if not text or not text.strip():
        return CommentedMap()
    try:
        doc = _yaml().load(text.decode("utf-8"))
    except UnicodeDecodeError as err:
        raise EnvironmentProblem(f"{shown}: not UTF-8 (byte {err.start})") from None
    except MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"{shown}:{mark.line + 1}:{mark.column + 1}" if mark else shown
        raise EnvironmentProblem(f"{where}: not valid YAML: {err.problem or err}") from None
    except YAMLError as err:
        raise EnvironmentProblem(f"{shown}: not valid YAML: {err}") from None
    if doc is None:
        return CommentedMap()
    if not isinstance(doc, dict):
        raise EnvironmentProblem(f"{shown}:1:1: not valid here: the top level must be a mapping")
    return doc


def dump(doc: Any) -> bytes:
    out = io.StringIO()
    _yaml().dump(doc, out)
    return out.getvalue().encode("utf-8")


def mapping(parent: Any, key: str) -> Any:
    """parent[key] as a mapping, created when missing or null."""
    from ruamel.yaml.comments import CommentedMap

    if not isinstance(parent.get(key), dict):
        parent[key] = CommentedMap()
    return parent[key]
