"""The schema fast path's interpreter: JSON Schema keywords turned into plain predicates.

No jsonschema here: dockercfg.schema uses these predicates to skip importing it (see there).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def _go_integer(value: Any) -> bool:
    """Go's idea of an integer: a JSON number written without fraction or exponent."""
    return isinstance(value, int) and not isinstance(value, bool)


# Fast path ---------------------------------------------------------------------------------------
# Importing jsonschema and building its validator costs more than the rest of `dockercfg validate`.
# Most keys' schemas use a handful of keywords, which _compile() turns into plain predicates. When
# every key of a document has such a schema and every predicate holds, jsonschema could report
# nothing, so schema_problems() returns [] without importing it. Anything else (a keyword outside
# the subset, a predicate that fails) goes to jsonschema, which words every problem. A predicate
# may only be stricter than jsonschema, never more lenient: True must mean "jsonschema agrees".

Check = Callable[[Any], bool]

# Dialects in which the keywords below mean what _compile() assumes ("items" as one schema for
# every element; a list of schemas would be tuple validation, which _compile() refuses anyway).
_FAST_DIALECTS = frozenset(
    {
        "https://json-schema.org/draft/2020-12/schema",
        "https://json-schema.org/draft/2019-09/schema",
        "http://json-schema.org/draft-07/schema#",
    }
)
# Keywords that never produce an error (x-* annotations are unknown keywords: also ignored).
_ANNOTATIONS = frozenset(
    {"title", "description", "$comment", "default", "examples", "deprecated", "readOnly"}
)
# Same tests as jsonschema's type checker (with schema_validator's "integer"), except "number",
# which jsonschema grants to any numbers.Number: narrower here, so never more lenient.
_FAST_TYPES: dict[str, Check] = {
    "string": lambda value: isinstance(value, str),
    "boolean": lambda value: isinstance(value, bool),
    "integer": _go_integer,
    "number": lambda value: isinstance(value, (int, float)) and not isinstance(value, bool),
    "null": lambda value: value is None,
    "array": lambda value: isinstance(value, list),
    "object": lambda value: isinstance(value, dict),
}
_ENUM_TYPES = (str, int, bool, type(None))  # exact types only: jsonschema has 1 == 1.0 != True


def _always(_value: Any) -> bool:
    return True


def _never(_value: Any) -> bool:
    return False


def _count(limit: Any) -> bool:
    return isinstance(limit, int) and not isinstance(limit, bool) and limit >= 0


def _compile(schema: Any) -> Check | None:
    """A predicate that holds only where jsonschema finds no error, or None outside the subset.

    The subset: type (one name or a list), enum of strings/integers/booleans/null, minLength,
    maxLength, items (one schema), properties, additionalProperties (true, false or a schema),
    annotations, and the boolean schema true. Each keyword applies only to its kind of value,
    as in JSON Schema: "items" says nothing about a string.
    """
    if schema is True:
        return _always
    if not isinstance(schema, dict):
        return None
    checks: list[Check] = []
    props: dict[str, Check] = {}
    for keyword, arg in schema.items():
        if keyword in _ANNOTATIONS or (isinstance(keyword, str) and keyword.startswith("x-")):
            continue
        if keyword == "type":
            names = [arg] if isinstance(arg, str) else arg
            if not isinstance(names, list) or not all(name in _FAST_TYPES for name in names):
                return None
            tests = tuple(_FAST_TYPES[name] for name in names)
            checks.append(lambda value, tests=tests: any(test(value) for test in tests))
        elif keyword == "enum":
            if not isinstance(arg, list) or not all(type(e) in _ENUM_TYPES for e in arg):
                return None
            members = tuple(arg)
            checks.append(
                lambda value, members=members: any(
                    type(value) is type(member) and value == member for member in members
                )
            )
        elif keyword in ("minLength", "maxLength"):
            if not _count(arg):
                return None
            if keyword == "minLength":
                checks.append(lambda v, n=arg: not isinstance(v, str) or len(v) >= n)
            else:
                checks.append(lambda v, n=arg: not isinstance(v, str) or len(v) <= n)
        elif keyword == "items":
            each = _compile(arg)
            if each is None:
                return None
            checks.append(
                lambda value, each=each: not isinstance(value, list) or all(map(each, value))
            )
        elif keyword == "properties":
            if not isinstance(arg, dict):
                return None
            for name, sub in arg.items():
                compiled = _compile(sub)
                if compiled is None:
                    return None
                props[name] = compiled
        elif keyword == "additionalProperties":
            continue  # below, once "properties" is known whatever the keyword order
        else:
            return None  # outside the subset (also prefixItems, patternProperties, $ref, ...)
    additional = schema.get("additionalProperties", True)
    extra = _compile(additional) if additional is not False else None
    if additional is not False and extra is None:
        return None
    if props or extra is not _always:

        def members_ok(value: Any, props: dict[str, Check] = props, extra: Any = extra) -> bool:
            if not isinstance(value, dict):
                return True
            for name, item in value.items():
                check = props.get(name, extra)
                if check is None or not check(item):  # None: additionalProperties is false
                    return False
            return True

        checks.append(members_ok)
    return lambda value: all(check(value) for check in checks)
