"""Header values of atomic batches: a ``Plain`` value reads as its ``str`` would, to any caller."""

from __future__ import annotations

import random
import string

import pytest

from prestacop.adapters.atomic import Plain, plain

#: What nats-py does to a header value before encoding it (nats/aio/client.py).
NATS_PY = str.maketrans({"\r": " ", "\n": " "})
TABLES = [NATS_PY, {10: " "}, {13: None}, str.maketrans("ab", "AB"), {ord("-"): "_"}]


def _values() -> list[str]:
    rng = random.Random(13)
    alphabet = string.printable + "é\xa0\u2028"
    values = [
        "nypd:nypd-9000000001",
        "0123456789abcdef-17",
        "1",
        "",
        " padded ",
        "a\r\nb",
        "tab\t",
        "\n",
    ]
    values += ["".join(rng.choices(alphabet, k=rng.randint(0, 30))) for _ in range(500)]
    return values


@pytest.mark.parametrize("table", TABLES, ids=range(len(TABLES)))
def test_a_plain_value_strips_translates_and_encodes_as_its_str_does(table: dict[int, str]) -> None:
    for value in _values():
        made = plain(value)
        assert made == value
        assert made.strip().translate(table) == value.strip().translate(table), repr(value)
        assert made.strip().translate(table).encode() == value.strip().translate(table).encode()
        assert made.strip("a ") == value.strip("a ")


def test_only_printable_unpadded_values_are_made_plain() -> None:
    assert type(plain("nypd:nypd-9000000001")) is Plain
    for odd in ("a\r\nb", " lead", "trail ", "tab\t", "\n", "nul\x00"):
        assert type(plain(odd)) is str, repr(odd)
