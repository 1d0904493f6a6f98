"""wstool.mock.rules: reading, checking and answering by mock rules, without a network."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wstool.mock.rules import MockRules, RulesError, json_contains, load_rules, parse_rules

TEXT, BINARY = 1, 2

ISSUE_EXAMPLE = r"""
on_connect: ["welcome"]              # sent to every client after the 101
rules:                               # first match wins
  - match: {json: {op: sub}}         # a JSON text message whose field op equals "sub"
    reply: ['{"op":"subscribed","ok":true}']
  - match: {text: '^ping-(\d+)$'}    # a regex on a text message; groups fill {1}, {2} ...
    reply: ['pong-{1}']
    delay: 0.2                       # seconds before replying
  - match: {hex: '0001'}             # a binary message that starts with these bytes
    close: {code: 4000, reason: bye}
echo_unmatched: true                 # default true
"""


def rules(text: str, name: str = "rules.yaml") -> MockRules:
    return load_rules(text, name)


def error(text: str, name: str = "rules.yaml") -> str:
    with pytest.raises(RulesError) as caught:
        load_rules(text, name)
    return str(caught.value)


class TestTheIssuesExample:
    """The shape in the issue, read from YAML and from the same JSON."""

    def test_yaml(self) -> None:
        """Each rule answers its message; others are echoed."""
        mock = rules(ISSUE_EXAMPLE)
        assert mock.greeting() == [(TEXT, b"welcome")]
        sub = mock.answer(TEXT, b'{"op": "sub", "channel": "x"}')
        assert sub is not None and sub.rule == 0
        assert sub.messages == ((TEXT, b'{"op":"subscribed","ok":true}'),)
        ping = mock.answer(TEXT, b"ping-42")
        assert ping is not None and (ping.rule, ping.messages, ping.delay) == (
            1,
            ((TEXT, b"pong-42"),),
            0.2,
        )
        bye = mock.answer(BINARY, b"\x00\x01\x02")
        assert bye is not None and (bye.rule, bye.messages, bye.close) == (2, (), (4000, "bye"))
        echo = mock.answer(TEXT, b"hello")
        assert echo is not None and (echo.rule, echo.messages) == (None, ((TEXT, b"hello"),))

    def test_json_is_the_same(self) -> None:
        """The same keys in JSON give the same rules (and need no PyYAML)."""
        doc = {
            "on_connect": ["welcome"],
            "rules": [
                {"match": {"json": {"op": "sub"}}, "reply": ['{"op":"subscribed","ok":true}']},
                {"match": {"text": r"^ping-(\d+)$"}, "reply": ["pong-{1}"], "delay": 0.2},
                {"match": {"hex": "0001"}, "close": {"code": 4000, "reason": "bye"}},
            ],
            "echo_unmatched": True,
        }
        from_json = load_rules(json.dumps(doc, indent=2), "rules.json")
        assert from_json == rules(ISSUE_EXAMPLE)


class TestMatching:
    """json is containment, text is a search, hex a prefix; the first match wins."""

    def test_json_nested_subset(self) -> None:
        """Nested objects match as subsets; arrays item by item."""
        mock = rules("rules: [{match: {json: {a: {b: 1}, tags: [x, y]}}, reply: [hit]}]")
        assert mock.answer(TEXT, b'{"a": {"b": 1, "c": 2}, "tags": ["x", "y"], "z": 0}') is not None
        for miss in (b'{"a": {"b": 2}, "tags": ["x", "y"]}', b'{"a": {"b": 1}, "tags": ["x"]}'):
            answer = mock.answer(TEXT, miss)
            assert answer is not None and answer.rule is None  # echoed

    def test_json_true_is_not_one(self) -> None:
        """JSON's true and 1 differ (Python's True == 1 must not leak)."""
        assert not json_contains({"a": 1}, {"a": True})
        assert not json_contains(True, 1)
        assert json_contains({"a": 1}, {"a": 1.0})

    def test_text_is_a_search_with_named_groups(self) -> None:
        """An unanchored regex matches anywhere; {0} and {name} fill replies."""
        mock = rules("rules: [{match: {text: 'user=(?P<user>\\w+)'}, reply: ['hi {user} ({0})']}]")
        answer = mock.answer(TEXT, b"login user=ada now")
        assert answer is not None and answer.messages == ((TEXT, b"hi ada (user=ada)"),)

    def test_json_fields_in_replies(self) -> None:
        """{json.id} takes the request's field: numbers as JSON, strings escaped, missing null."""
        mock = rules(
            """rules:
  - match: {json: {op: get}}
    reply: ['{"id":{json.id},"name":"{json.who.name}","x":{json.nope},"first":"{json.l.0}"}']
"""
        )
        answer = mock.answer(TEXT, b'{"op":"get","id":7,"who":{"name":"a\\"b"},"l":["q"]}')
        assert answer is not None
        [(_, data)] = answer.messages
        assert json.loads(data) == {"id": 7, "name": 'a"b', "x": None, "first": "q"}

    def test_json_fields_keep_their_type(self) -> None:
        """Unquoted in a JSON reply, a string id stays a string; in plain text it is bare."""
        mock = rules(
            "rules: [{match: {json: {op: get}}, reply: ['{\"id\":{json.id}}', 'id={json.id}']}]"
        )
        answer = mock.answer(TEXT, b'{"op":"get","id":"x-1"}')
        assert answer is not None
        assert answer.messages == ((TEXT, b'{"id":"x-1"}'), (TEXT, b"id=x-1"))

    def test_hex_only_binary_and_text_only_text(self) -> None:
        """A hex rule never matches text, a text rule never binary."""
        mock = rules("rules: [{match: {hex: '61'}, reply: [bin]}, {match: {text: a}, reply: [t]}]")
        text, binary = mock.answer(TEXT, b"a"), mock.answer(BINARY, b"a")
        assert text is not None and binary is not None
        assert (text.rule, binary.rule) == (1, 0)

    def test_first_match_wins_and_no_echo(self) -> None:
        """Two rules that match: the first answers; echo_unmatched false answers nothing."""
        mock = rules(
            "rules: [{match: {text: x}, reply: [one]}, {match: {text: x}, reply: [two]}]\n"
            "echo_unmatched: false\n"
        )
        first = mock.answer(TEXT, b"x")
        assert first is not None and first.messages == ((TEXT, b"one"),)
        assert mock.answer(TEXT, b"y") is None

    def test_reply_forms(self) -> None:
        """A string, {text}, {json} (compact) and {hex} (a binary message)."""
        mock = rules(
            "rules: [{match: {text: go}, reply: [a, {text: b}, {json: {k: [1, true]}}, "
            "{hex: 'de ad:be ef'}]}]"
        )
        answer = mock.answer(TEXT, b"go")
        assert answer is not None
        assert answer.messages == (
            (TEXT, b"a"),
            (TEXT, b"b"),
            (TEXT, b'{"k":[1,true]}'),
            (BINARY, b"\xde\xad\xbe\xef"),
        )

    def test_braces_that_are_not_placeholders_stay(self) -> None:
        """JSON text in a reply needs no escaping."""
        mock = rules("""rules: [{match: {text: '(.)'}, reply: ['{"a":{"b":"{1}"}}']}]""")
        answer = mock.answer(TEXT, b"z")
        assert answer is not None and answer.messages == ((TEXT, b'{"a":{"b":"z"}}'),)


class TestOneClearError:
    """An invalid file: one error naming the line (YAML, JSON syntax) and the key path."""

    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("rules:\n  - match: {text: '('}\n", "line 2: rules[0].match.text: bad regex '('"),
            ("rules:\n  - reply: [x]\n", "line 2: rules[0]: no match: (every rule needs one)"),
            ("rules:\n  - match: {txt: a}\n", "line 2: rules[0].match.txt: unknown key"),
            (
                "rules:\n  - match: {text: a}\n  - match: {text: b}\n    delay: soon\n",
                "line 4: rules[1].delay: expected seconds (0 or more), not a string",
            ),
            (
                "rules:\n  - match: {hex: '0g'}\n",
                "line 2: rules[0].match.hex: '0g' is not hex bytes",
            ),
            (
                "rules:\n  - match: {text: 'a(b)'}\n    reply: ['{2}']\n",
                "line 3: rules[0].reply[0]: {2} but the regex has 1 group(s)",
            ),
            (
                "rules:\n  - match: {json: {a: 1}}\n    reply: ['{1}']\n",
                "rules[0].reply[0]: {1} needs a text: rule",
            ),
            (
                "rules:\n  - match: {text: a}\n    close: {code: 1006}\n",
                "line 3: rules[0].close.code: 1006 may not be sent in a Close frame",
            ),
            ("rulez: []\n", "line 1: rulez: unknown key (expected one of: on_connect, rules"),
            ("rules: {a: 1}\n", "line 1: rules: expected a list of rules, not a mapping"),
            ("- a\n- b\n", "expected a mapping with rules:, not a list"),
            ("echo_unmatched: yes please\n", "echo_unmatched: expected true or false"),
            ("rules:\n  - match: {json: {d: 2024-01-01}}\n", "is not a JSON value (quote it)"),
            ("", "the file is empty"),
            ("rules: [\n  {match: {text: a}\n", "line 3 column 1: "),
            ("a: b: c\n", "line 1 column 5: mapping values are not allowed here"),
        ],
    )
    def test_yaml(self, text: str, expected: str) -> None:
        assert expected in error(text)

    def test_json_syntax_names_line_and_column(self) -> None:
        """A JSON syntax error: json's own line and column."""
        assert error('{\n  "rules": [1,]\n}', "r.json") == "line 2 column 15: Expecting value"

    def test_json_key_path(self) -> None:
        """A JSON file's problem is named by its key path."""
        text = '{"rules": [{"match": {"text": "ok"}}, {"match": {"text": "[x"}}]}'
        assert error(text, "r.json").startswith("rules[1].match.text: bad regex '[x'")

    def test_reason_too_long(self) -> None:
        """A close reason beyond 123 bytes cannot fit a Close frame."""
        reason = "é" * 62
        message = error(f"rules: [{{match: {{text: a}}, close: {{code: 4000, reason: {reason}}}}}]")
        assert "rules[0].close.reason: longer than 123 bytes" in message


JSON_LEAVES = st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=3)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=8,
)


class TestProperties:
    """Contracts that hold for any input."""

    @given(JSON_VALUES)
    def test_a_value_contains_itself(self, value: Any) -> None:
        assert json_contains(value, value)

    @given(st.dictionaries(st.text(max_size=3), JSON_VALUES, max_size=4), st.data())
    def test_a_subset_of_keys_is_contained(self, value: dict[str, Any], data: Any) -> None:
        keys = data.draw(
            st.lists(st.sampled_from(sorted(value)), unique=True) if value else st.just([])
        )
        assert json_contains({key: value[key] for key in keys}, value)

    @settings(max_examples=200)
    @given(JSON_VALUES)
    def test_any_document_is_rules_or_one_rules_error(self, doc: Any) -> None:
        """Whatever the parsed file holds, the result is rules or a RulesError, never a crash."""
        try:
            parse_rules(doc)
        except RulesError as exc:
            assert str(exc)

    @settings(max_examples=200)
    @given(st.text(max_size=80))
    def test_any_yaml_text_is_rules_or_one_rules_error(self, text: str) -> None:
        try:
            load_rules(text, "fuzz.yaml")
        except RulesError as exc:
            assert str(exc)

    @given(st.binary(max_size=40), st.sampled_from([TEXT, BINARY]))
    def test_any_message_gets_an_answer(self, data: bytes, opcode: int) -> None:
        """Invalid UTF-8 or JSON in a message never breaks matching."""
        mock = rules(ISSUE_EXAMPLE)
        answer = mock.answer(opcode, data)
        assert answer is not None
