"""POST /api/v1/events bodies on both parsing paths: orjson for the common body, json.loads
for whatever orjson refuses or would read differently (engagement.partner_api.parsers).
Each refused body answers json's own message (or check_json's path) and stores nothing;
each accepted one stores exactly what json.loads would have read."""

import pytest

from engagement.models import Customer, Event, EventKey

EVENT = '"event_id": "e1", "type": "custom.note", "customer": "alice", "occurred_at": "2026-01-01T00:00:00Z"'


def one(rest):
    """A single-event body: EVENT plus `rest` (more fields, as JSON text)."""
    return "{" + EVENT + ", " + rest + "}"


def batch(rest):
    return '{"events": [' + one(rest) + "]}"


def post(client, body):
    data = body if isinstance(body, bytes) else body.encode("utf-8", "surrogatepass")
    return client.post("/api/v1/events", data=data, content_type="application/json")


def error(code, detail, attr, error_type="validation_error"):
    return {"type": error_type, "errors": [{"code": code, "detail": detail, "attr": attr}]}


def stored():
    return Event.objects.count(), EventKey.objects.count(), Customer.objects.count()


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (one('"properties": {"n": NaN}'), "Malformed JSON: NaN is not valid JSON"),
        (batch('"properties": {"n": Infinity}'), "Malformed JSON: Infinity is not valid JSON"),
        (one('"value": -Infinity'), "Malformed JSON: -Infinity is not valid JSON"),
        (one('"properties": {"n": 1,}'),
         "Malformed JSON: Expecting property name enclosed in double quotes: line 1 column 125 (char 124)"),
        ('{"events": [{"event_id": "e\x01"}]}', "Malformed JSON: Invalid control character at: line 1 column 28 (char 27)"),
        (b'{"events": [{"event_id": "\xff"}]}',
         "Malformed JSON: 'utf-8' codec can't decode byte 0xff in position 26: invalid start byte"),
        ("\ufeff{" + EVENT + "}", "Malformed JSON: Unexpected UTF-8 BOM (decode using utf-8-sig): line 1 column 1 (char 0)"),
        ("[1] [2]", "Malformed JSON: Extra data: line 1 column 5 (char 4)"),
    ],
)  # fmt: skip
def test_malformed_bodies_answer_jsons_message_and_store_nothing(acme_api, body, detail):
    response = post(acme_api, body)

    assert response.status_code == 400
    assert response.json() == error("parse_error", detail, None, "client_error")
    assert stored() == (0, 0, 0)


@pytest.mark.parametrize(
    ("body", "code", "detail", "attr"),
    [
        (one('"properties": {"n": 1e999}'), "invalid", "Numbers must be finite.", "properties.n"),
        (batch('"properties": {"n": [-1e999]}'), "invalid", "Numbers must be finite.",
         "events.0.properties.n.0"),
        (one('"properties": {"note": "a\\u0000b"}'), "null_characters_not_allowed",
         "NUL (\\u0000) characters are not allowed.", "properties.note"),
        (batch('"properties": {"note": "\\ud800"}'), "surrogate_characters_not_allowed",
         "Lone surrogate characters (\\ud800-\\udfff) are not allowed.", "events.0.properties.note"),
        (one('"properties": {"\\udc00": 1}'), "surrogate_characters_not_allowed",
         "Lone surrogate characters (\\ud800-\\udfff) are not allowed.", "properties.\\udc00"),  # escaped
        # A raw (unescaped) lone surrogate is not UTF-8: json's decoding error.
        (one('"properties": {"note": "\ud800"}'), "parse_error",
         "Malformed JSON: 'utf-8' codec can't decode byte 0xed in position 126: invalid continuation byte", None),
    ],
)  # fmt: skip
def test_unstorable_text_and_numbers_are_named_and_store_nothing(acme_api, body, code, detail, attr):
    response = post(acme_api, body)

    assert response.status_code == 400
    assert response.json() == error(code, detail, attr, "client_error" if code == "parse_error" else "validation_error")
    assert stored() == (0, 0, 0)


@pytest.mark.parametrize("levels", [33, 500, 1100])  # orjson parses up to 1,024 levels, json.loads beyond
def test_nesting_past_32_levels_is_refused_on_both_paths(acme_api, levels):
    nested = "[" * (levels - 2) + "1" + "]" * (levels - 2)  # body(1), properties(2), then lists
    body = one('"properties": {"x": ' + nested + "}")

    response = post(acme_api, body)

    assert response.status_code == 400
    [problem] = response.json()["errors"]
    assert (problem["code"], problem["detail"]) == ("too_deep", "JSON nested deeper than 32 levels is not accepted.")
    assert problem["attr"] is None or problem["attr"].startswith("properties.x.0.0.0")
    assert stored() == (0, 0, 0)


def test_32_levels_are_accepted_and_stored(acme_api):
    nested = "[" * 30 + "1" + "]" * 30  # body(1), properties(2), 30 lists (3 to 32)

    response = post(acme_api, one('"properties": {"x": ' + nested + "}"))

    assert response.status_code == 202
    value = Event.objects.get().properties["x"]
    for _ in range(30):
        [value] = value
    assert value == 1


def test_a_repeated_key_keeps_its_last_value(acme_api):
    body = (
        '{"event_id": "e1", "type": "custom.note", "customer": "alice", "event_id": "e2", '
        '"occurred_at": "2026-01-01T00:00:00Z", "properties": {"n": 1, "n": 2}}'
    )

    response = post(acme_api, body)

    assert (response.status_code, response.json()) == (202, {"accepted": 1, "duplicates": 0})
    event = Event.objects.get()
    assert (event.event_id, event.properties) == ("e2", {"n": 2})


@pytest.mark.parametrize(
    "number",
    [
        123456789012345678901234567890,
        18446744073709551616,  # 2**64: orjson would read a float
        -9223372036854775809,  # -(2**63) - 1: likewise
        9223372036854775807,
    ],
)
def test_huge_integers_stay_exact_integers(acme_api, number):
    body = (
        '{"event_id": "e1", "type": "session", "customer": "alice", "occurred_at": "2026-01-01T00:00:00Z", '
        f'"properties": {{"duration_seconds": {number}, "page_views": {number}, "exit_page": "/"}}}}'
    )

    response = post(acme_api, body)

    # page_views must be an integer: read as a float it would be a 400.
    assert (response.status_code, response.json()) == (202, {"accepted": 1, "duplicates": 0})
    assert Event.objects.get().properties == {"duration_seconds": number, "page_views": number, "exit_page": "/"}


def test_escaped_surrogate_pairs_and_utf8_are_stored_as_text(acme_api):
    body = one('"properties": {"a": "\\ud83d\\ude00", "b": "\U0001f600 é", "c": 1e-7, "d": -0.0}')

    response = post(acme_api, body)

    assert response.status_code == 202
    assert Event.objects.get().properties == {"a": "\U0001f600", "b": "\U0001f600 é", "c": 1e-7, "d": 0}


# The size limit counts properties as ASCII-escaped JSON (é -> \u00e9, DEL -> \u007f: 6
# characters each), whichever encoder made the text: {"t":"..."} is 8 characters more.
@pytest.mark.parametrize(("char", "fits"), [("é", 2729), ("\x7f", 2729), ("\U0001f600", 1364), ("a", 16376)])
def test_the_properties_size_limit_is_counted_as_before(acme_api, char, fits):
    def body(event_id, count):
        return one('"properties": {"t": "' + char * count + '"}').replace('"e1"', f'"{event_id}"')

    too_long = post(acme_api, body("e2", fits + 1))

    assert too_long.status_code == 400
    assert too_long.json() == error("max_length", "properties must be at most 16384 bytes of JSON.", "properties")
    assert stored() == (0, 0, 0)

    accepted = post(acme_api, body("e1", fits))

    assert accepted.status_code == 202
    assert Event.objects.get().properties == {"t": char * fits}
