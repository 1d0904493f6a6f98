"""Mock rules: a file that says how a fake backend answers each message.

The shape (the same keys in JSON and YAML)::

    on_connect: ["welcome"]              # sent to every client after the 101, as written
    rules:                               # the first rule that matches answers
      - match: {json: {op: sub}}         # a JSON text message holding these fields
        reply: ['{"op":"subscribed","id":{json.id}}']
      - match: {text: '^ping-(\\d+)$'}   # a regex searched in a text message
        reply: ['pong-{1}']              # groups fill {1}, {2} ... and {name}; {0} is the match
        delay: 0.2                       # seconds before the replies
      - match: {hex: '0001'}             # a binary message that starts with these bytes
        close: {code: 4000, reason: bye} # after the replies, if any
    echo_unmatched: true                 # a message no rule matches is echoed (default)

Matching: ``json`` parses a text message as JSON and holds when the pattern
is contained in it (objects: every key of the pattern present, its value
contained, recursively; arrays: the same length, each item contained;
other values equal, ``true`` never equal to ``1``). ``text`` is
:func:`re.search` on a text message: anchor it with ``^...$`` to match the
whole message. ``hex`` holds for a binary message starting with those
bytes (spaces and colons between them allowed; ``''`` matches any binary
message).

A reply is a string (a text message), ``{text: ...}``, ``{json: VALUE}``
(the value as compact JSON text) or ``{hex: ...}`` (a binary message).
Text replies take placeholders: ``{0}``, ``{1}`` ... and ``{name}`` from a
``text`` rule's regex, and ``{json.a.b}`` (``{json.items.0}`` for array
items) from a message that is JSON. A field goes in as JSON text (a
missing one as ``null``), so ``{"id":{json.id}}`` echoes the id with its
type; between quotes (``"{json.name}"``) a string goes in escaped, without
its own quotes; in a reply that is not JSON (it does not start with ``{``
or ``[``) a string goes in as it is. Nothing else in braces is touched, so
a JSON reply needs no escaping. ``on_connect`` messages are sent as written.

Everything here is the standard library; PyYAML is imported only to read a
YAML file.
"""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from wstool.core.frames import Opcode
from wstool.core.rules import is_valid_close_code

__all__ = [
    "Answer",
    "Fill",
    "Match",
    "MockRules",
    "Reply",
    "Rule",
    "RulesError",
    "json_contains",
    "load_rules",
    "parse_rules",
]

_TOP_KEYS = ("on_connect", "rules", "echo_unmatched")
_RULE_KEYS = ("match", "reply", "delay", "close")
_MATCH_KINDS = ("json", "text", "hex")
_REPLY_KINDS = ("text", "json", "hex")
_MAX_DELAY = 3600.0
_MAX_REASON = 123  # RFC 6455 §5.5: a control frame's payload is at most 125 bytes, 2 for the code
_PLACEHOLDER = re.compile(r"\{(\d+|[A-Za-z_][A-Za-z0-9_]*|json(?:\.[^{}.\s]+)+)\}")

Path = tuple[str | int, ...]


class RulesError(ValueError):
    """A rules file that cannot be used: where (a line, a key path, or both) and what.

    Attributes:
        where: ``"line 4"``, ``"rules[2].match.text"`` or ``"line 9: rules[1].delay"``.
        problem: what is wrong, in a few words.
    """

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}" if where else problem)
        self.where = where
        self.problem = problem


class _Invalid(Exception):
    """A problem at a key path, before the path is turned into words (and maybe a line)."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(problem)
        self.path = path
        self.problem = problem


def path_text(path: Path) -> str:
    """``("rules", 2, "match")`` -> ``"rules[2].match"``."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


# -- matching ------------------------------------------------------------------


@dataclass(frozen=True)
class Fill:
    """What a match lends to reply templates: regex groups and the message as JSON."""

    groups: Mapping[str, str] = field(default_factory=dict)
    document: Any = None
    is_json: bool = False


def json_contains(pattern: Any, value: Any) -> bool:
    """Whether the JSON ``pattern`` is contained in the JSON ``value`` (see the module doc)."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(
            key in value and json_contains(item, value[key]) for key, item in pattern.items()
        )
    if isinstance(pattern, list):
        return (
            isinstance(value, list)
            and len(pattern) == len(value)
            and all(json_contains(p, v) for p, v in zip(pattern, value, strict=True))
        )
    if isinstance(pattern, bool) or isinstance(value, bool):
        return type(pattern) is type(value) and pattern == value
    if isinstance(pattern, int | float) and isinstance(value, int | float):
        return pattern == value
    return type(pattern) is type(value) and bool(pattern == value)


@dataclass(frozen=True)
class Match:
    """One rule's condition: exactly one of ``json``, ``text`` (a regex) or ``hex`` (a prefix)."""

    kind: str
    json_pattern: Any = None
    regex: re.Pattern[str] | None = None
    prefix: bytes = b""

    def test(
        self, opcode: int, data: bytes, document: Callable[[], tuple[bool, Any]]
    ) -> Fill | None:
        """A :class:`Fill` when the message matches, else ``None``.

        Args:
            opcode: 1 (text) or 2 (binary).
            data: the message's payload.
            document: the message parsed as JSON, ``(False, None)`` when it is not
                (parsed once per message, whichever rule asks first).
        """
        if self.kind == "hex":
            return Fill() if opcode == Opcode.BINARY and data.startswith(self.prefix) else None
        if opcode != Opcode.TEXT:
            return None
        if self.kind == "json":
            is_json, doc = document()
            if is_json and json_contains(self.json_pattern, doc):
                return Fill(document=doc, is_json=True)
            return None
        assert self.regex is not None
        found = self.regex.search(data.decode("utf-8", "replace"))
        if found is None:
            return None
        groups = {str(i): text or "" for i, text in enumerate([found[0], *found.groups()])}
        groups.update({name: text or "" for name, text in found.groupdict().items()})
        is_json, doc = document()
        return Fill(groups, doc, is_json)


@dataclass(frozen=True)
class Reply:
    """One message to send: text (a template) or binary bytes."""

    opcode: int
    template: str = ""
    data: bytes = b""

    def render(self, fill: Fill | None) -> bytes:
        """The payload, placeholders filled from ``fill`` (``None``: sent as written)."""
        if self.opcode == Opcode.BINARY:
            return self.data
        if fill is None:
            return self.template.encode("utf-8")
        as_json = self.template.lstrip()[:1] in ("{", "[")
        return _PLACEHOLDER.sub(lambda m: _fill_one(m, fill, as_json), self.template).encode()


def _fill_one(found: re.Match[str], fill: Fill, as_json: bool) -> str:
    """One placeholder's text: a group, or a JSON field (see the module doc)."""
    name = found[1]
    if not name.startswith("json.") or name in fill.groups:
        return fill.groups.get(name, found[0])
    value: Any = fill.document if fill.is_json else None
    for step in name.split(".")[1:]:
        if isinstance(value, dict):
            value = value.get(step)
        elif isinstance(value, list) and step.isdigit() and int(step) < len(value):
            value = value[int(step)]
        else:
            value = None
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    if not isinstance(value, str):
        return text
    template, start, end = found.string, found.start(), found.end()
    quoted = template[start - 1 : start] == '"' and template[end : end + 1] == '"'
    if quoted:
        return text[1:-1]  # inside a JSON string already: escaped, without quotes
    return text if as_json else value


@dataclass(frozen=True)
class Rule:
    """A condition and what answers it."""

    index: int
    match: Match
    replies: tuple[Reply, ...] = ()
    delay: float = 0.0
    close: tuple[int, str] | None = None


@dataclass(frozen=True)
class Answer:
    """What to do with one message.

    Attributes:
        rule: the index of the rule that matched, ``None`` for an echo.
        messages: ``(opcode, payload)`` to send, in order.
        delay: seconds to wait before sending them.
        close: ``(code, reason)`` to close with after them, if any.
    """

    rule: int | None
    messages: tuple[tuple[int, bytes], ...]
    delay: float = 0.0
    close: tuple[int, str] | None = None


@dataclass(frozen=True)
class MockRules:
    """A checked rules file."""

    on_connect: tuple[Reply, ...] = ()
    rules: tuple[Rule, ...] = ()
    echo_unmatched: bool = True

    def greeting(self) -> list[tuple[int, bytes]]:
        """The ``on_connect`` messages, as written."""
        return [(reply.opcode, reply.render(None)) for reply in self.on_connect]

    def answer(self, opcode: int, data: bytes) -> Answer | None:
        """The first matching rule's answer, an echo, or ``None`` (unmatched, no echo)."""
        parsed: list[tuple[bool, Any]] = []

        def document() -> tuple[bool, Any]:
            if not parsed:
                parsed.append(_parse_json_message(data))
            return parsed[0]

        for rule in self.rules:
            fill = rule.match.test(opcode, data, document)
            if fill is not None:
                messages = tuple((r.opcode, r.render(fill)) for r in rule.replies)
                return Answer(rule.index, messages, rule.delay, rule.close)
        if self.echo_unmatched:
            return Answer(None, ((opcode, data),))
        return None


def _parse_json_message(data: bytes) -> tuple[bool, Any]:
    try:
        return True, json.loads(data)
    except ValueError:  # not UTF-8, or not JSON
        return False, None


# -- reading and checking ------------------------------------------------------------


def load_rules(text: str, name: str = "rules") -> MockRules:
    """Read a rules file: JSON when ``name`` ends in ``.json`` or the text starts with ``{``.

    Raises:
        RulesError: one problem, with the line (a syntax error; for YAML, any
            problem) and the key path.
    """
    as_json = name.lower().endswith(".json") or text.lstrip().startswith("{")
    if as_json:
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RulesError(f"line {exc.lineno} column {exc.colno}", exc.msg) from None
        return parse_rules(doc)
    yaml: Any = importlib.import_module("yaml")
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RulesError(*_yaml_problem(exc)) from None
    try:
        return _checked(doc)
    except RecursionError:  # an alias inside itself (&a [*a])
        raise RulesError("", "nested too deeply (an alias that holds itself?)") from None
    except _Invalid as problem:
        line = _yaml_line(yaml, text, problem.path)
        where = path_text(problem.path)
        raise RulesError(
            f"line {line}: {where}" if line and where else where or f"line {line}", problem.problem
        ) from None


def parse_rules(doc: Any) -> MockRules:
    """Check a parsed rules document (JSON values: dicts, lists, strings, numbers, booleans).

    Raises:
        RulesError: the first problem, with its key path.
    """
    try:
        return _checked(doc)
    except _Invalid as problem:
        raise RulesError(path_text(problem.path), problem.problem) from None


def _yaml_problem(exc: Any) -> tuple[str, str]:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    context = getattr(exc, "context", None)
    if context:
        problem = f"{problem} ({context})"
    if "escape" in problem:
        problem += "; in YAML, write a regex in single quotes ('^ping-(\\d+)$')"
    if mark is None:
        return "", f"not YAML: {problem}"
    return f"line {mark.line + 1} column {mark.column + 1}", problem


def _yaml_line(yaml: Any, text: str, path: Path) -> int | None:
    """The line of the YAML node at ``path`` (the deepest one that exists)."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:  # pragma: no cover - safe_load read it already
        return None
    line = None
    for step in path:
        if node is None:
            break
        line = node.start_mark.line + 1
        node = _yaml_child(node, step)
    if node is not None:
        line = node.start_mark.line + 1
    return line


def _yaml_child(node: Any, step: str | int) -> Any:
    value = getattr(node, "value", None)
    if isinstance(step, int):
        return value[step] if isinstance(value, list) and step < len(value) else None
    if isinstance(value, list):
        for pair in value:
            if isinstance(pair, tuple) and getattr(pair[0], "value", None) == step:
                return pair[1]
    return None


def _checked(doc: Any) -> MockRules:
    if doc is None:
        raise _Invalid((), "the file is empty (expected a mapping with rules:)")
    if not isinstance(doc, dict):
        raise _Invalid((), f"expected a mapping with rules:, not {_kind(doc)}")
    _known_keys(doc, _TOP_KEYS, ())
    on_connect = tuple(_replies(doc.get("on_connect", []), ("on_connect",)))
    rules_doc = doc.get("rules", [])
    if not isinstance(rules_doc, list):
        raise _Invalid(("rules",), f"expected a list of rules, not {_kind(rules_doc)}")
    rules = tuple(_rule(item, index) for index, item in enumerate(rules_doc))
    echo = doc.get("echo_unmatched", True)
    if not isinstance(echo, bool):
        raise _Invalid(("echo_unmatched",), f"expected true or false, not {_kind(echo)}")
    return MockRules(on_connect, rules, echo)


def _kind(value: Any) -> str:
    names = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}
    if value is None:
        return "null"
    for kind, name in names.items():
        if isinstance(value, kind):
            return f"{name} ({_short(value)})" if kind in (str, bool) else name
    if isinstance(value, int | float):
        return f"a number ({value})"
    return f"a {type(value).__name__}"


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 40 else text[:37] + "..."


def _known_keys(doc: dict[Any, Any], known: Sequence[str], path: Path) -> None:
    for key in doc:
        if key not in known:
            raise _Invalid((*path, str(key)), f"unknown key (expected one of: {', '.join(known)})")


def _rule(doc: Any, index: int) -> Rule:
    path: Path = ("rules", index)
    if not isinstance(doc, dict):
        raise _Invalid(path, f"expected a mapping with match:, not {_kind(doc)}")
    _known_keys(doc, _RULE_KEYS, path)
    if "match" not in doc:
        raise _Invalid(path, "no match: (every rule needs one)")
    match = _match(doc["match"], (*path, "match"))
    replies = tuple(_replies(doc.get("reply", []), (*path, "reply")))
    for number, reply in enumerate(replies):
        _check_placeholders(reply, match, (*path, "reply", number))
    delay = doc.get("delay", 0)
    if isinstance(delay, bool) or not isinstance(delay, int | float) or delay < 0:
        raise _Invalid((*path, "delay"), f"expected seconds (0 or more), not {_kind(delay)}")
    if delay > _MAX_DELAY:
        raise _Invalid((*path, "delay"), f"{delay} seconds is over an hour")
    close = _close(doc["close"], (*path, "close")) if "close" in doc else None
    return Rule(index, match, replies, float(delay), close)


def _one_key(doc: Any, kinds: Sequence[str], path: Path, what: str) -> tuple[str, Any]:
    if not isinstance(doc, dict) or len(doc) != 1:
        shown = _kind(doc) if not isinstance(doc, dict) else f"{len(doc)} keys"
        raise _Invalid(path, f"expected {what} with one of {', '.join(kinds)}, not {shown}")
    [(kind, value)] = doc.items()
    if kind not in kinds:
        raise _Invalid((*path, str(kind)), f"unknown key (expected one of: {', '.join(kinds)})")
    return str(kind), value


def _match(doc: Any, path: Path) -> Match:
    kind, value = _one_key(doc, _MATCH_KINDS, path, "a mapping")
    here = (*path, kind)
    if kind == "json":
        _json_value(value, here)
        return Match("json", json_pattern=value)
    if kind == "hex":
        return Match("hex", prefix=_hex(value, here))
    if not isinstance(value, str):
        raise _Invalid(here, f"expected a regular expression, not {_kind(value)}")
    try:
        return Match("text", regex=re.compile(value))
    except re.error as exc:
        raise _Invalid(here, f"bad regex {value!r}: {exc}") from None


def _hex(value: Any, path: Path) -> bytes:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # YAML reads an unquoted 0001 as a number
    if not isinstance(value, str):
        raise _Invalid(path, f"expected hex digits, not {_kind(value)}")
    digits = re.sub(r"[\s:]", "", value)
    if digits.lower().startswith("0x"):
        digits = digits[2:]
    try:
        return bytes.fromhex(digits)
    except ValueError:
        raise _Invalid(path, f"{value!r} is not hex bytes (pairs of 0-9 a-f)") from None


def _json_value(value: Any, path: Path) -> None:
    """Refuse what JSON cannot hold (YAML dates, binary, non-string keys)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise _Invalid(path, f"key {key!r} is not a string")
            _json_value(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _json_value(item, (*path, index))
    elif value is not None and not isinstance(value, str | int | float | bool):
        raise _Invalid(path, f"{_kind(value)} is not a JSON value (quote it)")
    elif isinstance(value, float) and value != value:
        raise _Invalid(path, "NaN never equals anything")


def _replies(doc: Any, path: Path) -> Iterator[Reply]:
    items = doc if isinstance(doc, list) else [doc]
    for index, item in enumerate(items):
        yield _reply(item, (*path, index) if isinstance(doc, list) else path)


def _reply(doc: Any, path: Path) -> Reply:
    if isinstance(doc, str):
        return Reply(Opcode.TEXT, doc)
    kind, value = _one_key(doc, _REPLY_KINDS, path, "a string or a mapping")
    here = (*path, kind)
    if kind == "hex":
        return Reply(Opcode.BINARY, data=_hex(value, here))
    if kind == "json":
        _json_value(value, here)
        return Reply(Opcode.TEXT, json.dumps(value, ensure_ascii=False, separators=(",", ":")))
    if not isinstance(value, str):
        raise _Invalid(here, f"expected a string, not {_kind(value)}")
    return Reply(Opcode.TEXT, value)


def _check_placeholders(reply: Reply, match: Match, path: Path) -> None:
    if reply.opcode != Opcode.TEXT:
        return
    regex = match.regex
    for found in _PLACEHOLDER.finditer(reply.template):
        name = found[1]
        if name.startswith("json."):
            continue
        if regex is None:
            raise _Invalid(path, f"{found[0]} needs a text: rule (its regex's groups fill it)")
        if name.isdigit() and int(name) > regex.groups:
            raise _Invalid(path, f"{found[0]} but the regex has {regex.groups} group(s)")
        if not name.isdigit() and name not in regex.groupindex:
            raise _Invalid(path, f"{found[0]} names no group of the regex (use (?P<{name}>...))")


def _close(doc: Any, path: Path) -> tuple[int, str]:
    if isinstance(doc, int) and not isinstance(doc, bool):
        doc = {"code": doc}
    if not isinstance(doc, dict):
        raise _Invalid(path, f"expected {{code: ..., reason: ...}}, not {_kind(doc)}")
    _known_keys(doc, ("code", "reason"), path)
    code = doc.get("code", 1000)
    if isinstance(code, bool) or not isinstance(code, int):
        raise _Invalid((*path, "code"), f"expected a close code, not {_kind(code)}")
    if not is_valid_close_code(code):
        raise _Invalid(
            (*path, "code"),
            f"{code} may not be sent in a Close frame (RFC 6455 §7.4: 1000-1003, 1007-1014, "
            "3000-4999)",
        )
    reason = doc.get("reason", "")
    if not isinstance(reason, str):
        raise _Invalid((*path, "reason"), f"expected text, not {_kind(reason)}")
    if len(reason.encode("utf-8")) > _MAX_REASON:
        raise _Invalid((*path, "reason"), f"longer than {_MAX_REASON} bytes of UTF-8")
    return code, reason
