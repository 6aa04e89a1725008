"""Reading an economy's policy from TOML (X7), with every problem reported with its line.

``tomllib`` knows lines only for syntax errors, so for the rest (unknown keys, wrong types,
impossible values) the key path is found again in the text: the ``[section]`` header, then the
``key =`` line inside it.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

from civicledger.kernel.canonical import JSONObject, JSONValue
from civicledger.kernel.errors import InvalidInputError, PolicyFileError
from civicledger.kernel.policy import Policy, policy_from_mapping

_HEADER_RE = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")
_SEGMENT = r"(?:\"[^\"]*\"|'[^']*'|[A-Za-z0-9_\-]+)"
_KEY_RE = re.compile(rf"^\s*({_SEGMENT}(?:\s*\.\s*{_SEGMENT})*)\s*=")
_PART_RE = re.compile(r"\"([^\"]*)\"|'([^']*)'|([A-Za-z0-9_\-]+)")


def _parts(dotted: str) -> tuple[str, ...]:
    """The segments of a TOML key or table name: bare, "quoted" (dots allowed) or 'literal'."""
    return tuple(next(g for g in m.groups() if g is not None) for m in _PART_RE.finditer(dotted))


_LINE_RE = re.compile(r"at line (\d+)")


def locate(text: str, path: tuple[str, ...]) -> int | None:
    """The 1-based line where the key path is set, or its section starts; None if not found."""
    section: tuple[str, ...] = ()
    best: int | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER_RE.match(line)
        if header:
            section = _parts(header.group(1))
            if section == path[: len(section)] and best is None and section:
                best = number
            continue
        key = _KEY_RE.match(line)
        if key:
            full = (*section, *_parts(key.group(1)))
            if full == path[: len(full)] and len(full) > len(section):
                return number
    return best


def load_policy_file(path: Path) -> tuple[Policy, JSONObject]:
    """Parse and check a policy file; raise PolicyFileError listing every problem with its line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise PolicyFileError([(None, f"cannot read {path}: {e}")]) from e
    return parse_policy_text(text)


def parse_policy_text(text: str) -> tuple[Policy, JSONObject]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        match = _LINE_RE.search(str(e))
        raise PolicyFileError([(int(match.group(1)) if match else None, f"not valid TOML: {e}")]) from e
    policy, problems = policy_from_mapping(data)
    if problems:
        raise PolicyFileError(
            [(locate(text, key_path), f"{'.'.join(key_path) or '(top)'}: {msg}") for key_path, msg in problems]
        )
    return policy, data


_BARE_KEY_RE = re.compile(r"^[A-Za-z0-9_\-]+$")


def policy_to_toml(policy: JSONObject, header: str = "") -> str:
    """A policy as a TOML file that ``load_policy_file`` reads back to the same policy (X7).

    ``header`` becomes comment lines at the top. Tables come after their section's plain values,
    one ``[section.sub]`` header each, so the file can be edited a value at a time."""
    lines = [f"# {line}".rstrip() for line in header.splitlines()]

    def table(path: tuple[str, ...], mapping: JSONObject) -> None:
        plain = [(k, v) for k, v in mapping.items() if not isinstance(v, dict)]
        nested = [(k, v) for k, v in mapping.items() if isinstance(v, dict)]
        if path and (plain or not nested):
            lines.extend(["", f"[{'.'.join(_toml_key(p) for p in path)}]"])
        lines.extend(f"{_toml_key(k)} = {_toml_value(v, (*path, k))}" for k, v in plain)
        for k, v in nested:
            assert isinstance(v, dict)
            table((*path, k), v)

    table((), policy)
    return "\n".join(lines).lstrip("\n") + "\n"


def _toml_key(key: str) -> str:
    return key if _BARE_KEY_RE.match(key) else json.dumps(key, ensure_ascii=False)


def _toml_value(value: JSONValue, path: tuple[str, ...]) -> str:
    """A TOML value; JSON's string escapes are TOML's basic-string escapes."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v, path) for v in value) + "]"
    raise InvalidInputError(f"{'.'.join(path)}: {value!r} has no TOML form in a policy file", rule="X7")
