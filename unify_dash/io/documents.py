"""YAML and JSON documents read safely: bounded, literal, every problem with its line.

A settings file is typed by people and exported by tools, so it is read as hostile input:

* **YAML 1.2** (ruamel.yaml's pure parser, core schema): ``name: No`` stays the text ``No``, ``1:30``
  stays ``1:30``, dates stay text as written. A ``%YAML 1.1`` directive is refused.
* **No anchors or aliases** (``&name`` / ``*name``): they are what alias bombs and recursive
  documents are made of, and a settings file does not need them. No tags beyond the core schema.
* **Bounded**: at most :data:`MAX_DOCUMENT_BYTES` bytes, :data:`MAX_DEPTH` nested lists/mappings,
  integers of at most :data:`MAX_INT_DIGITS` digits. The YAML is built from the parser's events
  in one loop (no recursion), so no input reaches Python's recursion limit.
* **Duplicate keys** are errors (YAML and JSON), naming both lines. JSON ``NaN``/``Infinity`` are refused.

:func:`parse_document` returns a :class:`Doc` with the data and the line of every item (by key path
such as ``exclusions[2].criteria.op``, see :func:`node_line`) or raises
:class:`~unify_dash.errors.LoadError` with every problem found.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml import events as ev
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.nodes import ScalarNode
from ruamel.yaml.resolver import Resolver

from unify_dash.errors import LoadError, Problem

MAX_DOCUMENT_BYTES = 1_048_576  # 1 MiB: a settings document with 512 exclusions is about 150 KB
MAX_DEPTH = 64  # nested lists and mappings
MAX_INT_DIGITS = 18  # any number a setting takes fits; Python refuses to read past 4,300 digits
MAX_DOC_PROBLEMS = 50  # problems one document reports before it stops looking

_T = "tag:yaml.org,2002:"
PURE = False  # True: the pure-Python parser even when the C one is installed (tests compare both)
PURE_FALLBACK_CHARS = 262_144  # up to this size, text the C parser refuses is read again by the pure one
_RESOLVER = Resolver()  # the YAML 1.2 core schema, whatever the document's directives say


@dataclass
class Doc:
    """A parsed document: its data and the 1-based line of each item by key path ("" is the root)."""

    label: str
    data: Any
    lines: dict[str, int] = field(default_factory=dict)

    @property
    def node(self) -> dict[str, int]:
        """The line map, for :func:`node_line` (the name the loader has always used)."""
        return self.lines

    def line(self, path: str) -> int | None:
        return node_line(self.lines, path)


_STEP = re.compile(r"(\[\d+\]|\.?[^.\[]+)$")


def node_line(lines: dict[str, int] | None, path: str) -> int | None:
    """The line of the item at ``path`` (``exclusions[2].criteria.op``); the line of the deepest
    existing item when the path goes further than the document (a missing key: its mapping)."""
    if not lines:
        return None
    path = path.lstrip(".")
    while path:
        if path in lines:
            return lines[path]
        m = _STEP.search(path)
        if m is None:
            break
        path = path[:m.start()].rstrip(".")
    return lines.get("")


def join(parent: str, key: Any) -> str:
    """The path of ``key`` (a mapping key, or an ``int`` list index) under ``parent``."""
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else str(key)


def show(value: Any, limit: int = 60) -> str:
    """A value for a message: short, and never a failure (a huge integer cannot even be printed)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"an integer of about {int(value.bit_length() * 0.30103) + 1:,} digits"
    if isinstance(value, (dict, list)):
        return f"a {'mapping' if isinstance(value, dict) else 'list'}"
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 5] + "...'"


class _Stop(Exception):
    """Stop reading the document (too deep, too many problems, or a structure that cannot be read)."""


class _Problems:
    def __init__(self, label: str):
        self.label = label
        self.items: list[Problem] = []
        self.syntax = False  # the parser refused the text

    def add(self, line: int | None, message: str, path: str | None = None) -> None:
        self.items.append(Problem(self.label, line, path or None, message))
        if len(self.items) >= MAX_DOC_PROBLEMS:
            raise _Stop


def check_size(data: bytes | str, label: str) -> None:
    size = len(data.encode("utf-8") if isinstance(data, str) else data)
    if size > MAX_DOCUMENT_BYTES:
        raise LoadError([Problem(label, None, None, f"the document is {size:,} bytes; at most "
                                                    f"{MAX_DOCUMENT_BYTES:,} bytes (1 MiB) are read")])


def parse_document(text: str, label: str) -> Doc:
    """Parse YAML, or JSON when ``label`` ends in ``.json``. Raises LoadError naming every problem."""
    check_size(text, label)
    if label.lower().endswith(".json"):
        return _read_json(text, label)
    doc, problems = _yaml(text, label)
    if problems.items:
        raise LoadError(problems.items)
    return doc


def _yaml(text: str, label: str) -> tuple[Doc, _Problems]:
    """The C parser first; when it refuses the text, the pure one decides: the C parser is libyaml's,
    a YAML 1.1 parser, which refuses some valid YAML 1.2 (``[http://x.com/a]``, ``{start: 1:30}``)."""
    problems = _Problems(label)
    doc = _read_yaml(text, label, problems, PURE)
    if problems.syntax and not PURE and len(text) <= PURE_FALLBACK_CHARS:
        problems = _Problems(label)
        doc = _read_yaml(text, label, problems, True)
    return doc, problems


# --- YAML --------------------------------------------------------------------------------------------


def _scalar(event: ev.ScalarEvent, line: int, path: str, problems: _Problems) -> Any:
    tag = str(event.ctag) if event.ctag is not None else str(_RESOLVER.resolve(ScalarNode, event.value,
                                                                             event.implicit))
    value = event.value
    if tag in ("!", f"{_T}str", f"{_T}timestamp"):  # dates stay text, as written
        return value
    if tag == f"{_T}null":
        return None
    if tag == f"{_T}bool":
        return value.lower() == "true"
    if tag == f"{_T}int":
        digits = value.lstrip("+-").replace("_", "")
        base = {"0o": 8, "0x": 16}.get(digits[:2].lower(), 10)
        digits = digits[2:] if base != 10 else digits
        if len(digits.lstrip("0")) > MAX_INT_DIGITS:
            problems.add(line, f"a number of {len(digits):,} digits is too large; numbers here have at most "
                               f"{MAX_INT_DIGITS} digits", path)
            return None
        try:
            number = int(digits or "0", base)
        except ValueError:
            problems.add(line, f"{show(value)} is not a number", path)
            return None
        return -number if value.startswith("-") else number
    if tag == f"{_T}float":
        text = value.replace("_", "").lower()
        if text.lstrip("+-") == ".inf":
            return float("-inf") if text.startswith("-") else float("inf")
        if text == ".nan":
            return float("nan")
        try:
            return float(text)
        except ValueError:
            problems.add(line, f"{show(value)} is not a number", path)
            return None
    problems.add(line, f"the tag {tag.replace(_T, '!!')} is not supported; write a plain value", path)
    return None


@dataclass
class _Frame:
    value: dict | list
    path: str
    key: str | None = None  # a mapping waiting for the value of this key
    key_line: int = 0
    seen: dict[str, int] = field(default_factory=dict)  # key -> line (duplicates)


def _parser(pure: bool) -> YAML:
    """ruamel.yaml in safe mode; its C parser (ruamel.yaml.clib) when installed, about ten times as fast
    on large documents. Either way only the parser's events are used: the values are resolved here by
    the YAML 1.2 core schema (:func:`_scalar`), so both read a document alike (``tests/test_documents.py``)."""
    return YAML(typ="safe", pure=pure)


def _read_yaml(text: str, label: str, problems: _Problems, pure: bool) -> Doc:
    """Build the data from the parser's events, iteratively."""
    lines: dict[str, int] = {}
    stack: list[_Frame] = []
    root: Any = None
    documents = 0
    reuse: list[tuple[int, str]] = []  # (line, "anchor &x" / "alias *x")

    def place(value: Any, line: int) -> str | None:
        """Put a value where the parser is; returns its path (None when it is a key)."""
        nonlocal root
        if not stack:
            root = value
            lines[""] = line
            return ""
        top = stack[-1]
        if isinstance(top.value, list):
            path = join(top.path, len(top.value))
            top.value.append(value)
            lines[path] = line
            return path
        path = join(top.path, top.key)
        if top.key in top.seen:
            problems.add(top.key_line, f"duplicate key {top.key!r} (first on line {top.seen[top.key]}); "
                                       "each key may appear once in a mapping", path)
        else:
            top.seen[top.key] = top.key_line
            top.value[top.key] = value
            lines[path] = top.key_line
        top.key = None
        return path

    def expecting_key() -> bool:
        return bool(stack) and isinstance(stack[-1].value, dict) and stack[-1].key is None

    try:
        for event in _parser(pure).parse(text):
            line = event.start_mark.line + 1 if event.start_mark is not None else None
            anchor = getattr(event, "anchor", None)
            if isinstance(event, ev.AliasEvent):
                reuse.append((line, f"alias *{anchor}"))
                raise _Stop  # the first alias is enough: nothing is ever expanded
            if anchor is not None:
                reuse.append((line, f"anchor &{anchor}"))
            if isinstance(event, ev.DocumentStartEvent):
                documents += 1
                if documents > 1:
                    problems.add(line, "a second document (---) in the file; expected one document")
                    raise _Stop
                if event.version is not None and tuple(event.version) != (1, 2):
                    problems.add(text.count("\n", 0, max(text.find("%YAML"), 0)) + 1,
                                 f"%YAML {'.'.join(map(str, event.version))} directive: settings are "
                                       "read as YAML 1.2; remove the directive")
            elif isinstance(event, (ev.MappingStartEvent, ev.SequenceStartEvent)):
                if expecting_key():
                    problems.add(line, "a list or mapping used as a key; keys are plain text",
                                 stack[-1].path or None)
                    raise _Stop
                if len(stack) >= MAX_DEPTH:
                    problems.add(line, f"nested more than {MAX_DEPTH} levels deep; expected a flatter document")
                    raise _Stop
                is_map = isinstance(event, ev.MappingStartEvent)
                if event.ctag is not None and str(event.ctag) not in (f"{_T}map", f"{_T}seq", "!"):
                    problems.add(line, f"the tag {str(event.ctag).replace(_T, '!!')} is not supported; "
                                       "write a plain mapping or list")
                container: dict | list = {} if is_map else []
                path = place(container, line)
                stack.append(_Frame(container, path))
            elif isinstance(event, (ev.MappingEndEvent, ev.SequenceEndEvent)):
                stack.pop()
            elif isinstance(event, ev.ScalarEvent):
                if expecting_key():
                    stack[-1].key, stack[-1].key_line = event.value, line
                else:
                    where = (join(stack[-1].path, len(stack[-1].value) if isinstance(stack[-1].value, list)
                                  else stack[-1].key) if stack else "")
                    place(_scalar(event, line, where, problems), line)
            elif isinstance(event, ev.AliasEvent):
                if expecting_key():
                    stack[-1].key, stack[-1].key_line = f"*{anchor}", line
                else:
                    place(None, line)
    except MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        what = err.problem or err.context or "syntax error"
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problems.syntax = True
        problems.add(mark.line + 1 if mark else None, f"invalid YAML: {what}{where}")
    except YAMLError as err:
        problems.syntax = True
        problems.add(None, f"invalid YAML: {err}")
    except _Stop:
        pass
    if reuse:
        first_line, first = reuse[0]
        also = f"; {reuse[-1][1]} on line {reuse[-1][0]}" if len(reuse) > 1 else ""
        problems.items.insert(0, Problem(
            label, first_line, None,
            f"YAML anchors and aliases are not accepted ({first} here{also}): write each value out in full"))
    return Doc(label, root, lines)


# --- JSON --------------------------------------------------------------------------------------------

_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"')
_BIG_INT = re.compile(r"(?<![\w.])-?\d{%d,}(?![\w.])" % (MAX_INT_DIGITS + 1))
_CONSTANT = re.compile(r"(?<![\w.])-?(?:NaN|Infinity)(?![\w.])")


def _read_json(text: str, label: str) -> Doc:
    problems = _Problems(label)
    # the text with every string blanked (same length, same lines): brackets and numbers as JSON sees them
    skeleton = _STRING.sub(lambda m: '"' + " " * (len(m.group()) - 2) + '"', text)

    def line_at(pos: int) -> int:
        return skeleton.count("\n", 0, pos) + 1

    try:
        depth = 0
        for m in re.finditer(r"[\[\]{}]", skeleton):
            depth += 1 if m.group() in "[{" else -1
            if depth > MAX_DEPTH:
                problems.add(line_at(m.start()), f"nested more than {MAX_DEPTH} levels deep; "
                                                 "expected a flatter document")
                raise _Stop
        for m in _CONSTANT.finditer(skeleton):
            problems.add(line_at(m.start()), f"{m.group()} is not a number JSON allows; expected a finite number")
        for m in _BIG_INT.finditer(skeleton):
            problems.add(line_at(m.start()), f"a number of {len(m.group().lstrip('-')):,} digits is too large; "
                                             f"numbers here have at most {MAX_INT_DIGITS} digits")
    except _Stop:
        raise LoadError(problems.items) from None
    duplicates: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict:
        out: dict = {}
        for key, value in items:
            if key in out:
                duplicates.append(key)
            else:
                out[key] = value
        return out

    try:
        data = json.loads(text, object_pairs_hook=pairs, parse_constant=lambda _: None,
                          parse_int=lambda s: int(s) if len(s) <= MAX_INT_DIGITS + 1 else None)
    except json.JSONDecodeError as err:
        problems.items.append(Problem(label, err.lineno, None,
                                      f"invalid JSON: {err.msg} at line {err.lineno}, column {err.colno}"))
        raise LoadError(problems.items) from None
    # JSON is YAML 1.2: its events give the line of every item, and of duplicate keys
    shadow_doc, shadow = _yaml(text, label)
    lines = shadow_doc.lines
    if duplicates:
        found = [p for p in shadow.items if p.message.startswith("duplicate key")]
        problems.items.extend(found if len(found) >= len(duplicates) else [
            Problem(label, None, None, f"duplicate key {k!r}; each key may appear once in an object")
            for k in duplicates])
    if problems.items:
        raise LoadError(problems.items)
    return Doc(label, data, lines)


# --- writing -----------------------------------------------------------------------------------------


def dump_yaml(data: Any) -> str:
    """YAML 1.2 text that :func:`parse_document` reads back as ``data`` (text that looks like a number
    or a boolean is quoted)."""
    import io

    out = io.StringIO()
    writer = YAML(typ="safe", pure=True)
    writer.default_flow_style = False
    writer.sort_base_mapping_type_on_output = False
    writer.allow_unicode = True
    writer.width = 110
    writer.dump(data, out)
    return out.getvalue()
