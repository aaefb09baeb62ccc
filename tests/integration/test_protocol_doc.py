"""docs/protocol.md is enough to talk to PrestaCop: its examples, sent by hand, are accepted.

Each example is published with plain nats-py (no SDK, no codec on the way out) to the
subject the document names, its image uploaded first as the document says (section 6:
one write-once message on the image's own subject). Then the log
must hold it in the named stream and the validation gate must find nothing wrong.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import msgspec
import nats
import pytest
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from prestacop.adapters.images import ImageStore
from prestacop.adapters.nats_connection import credential_options
from prestacop.bootstrap import LogClient
from prestacop.domain import codec
from prestacop.domain.events import AnyEvent
from prestacop.gate.service import Gate
from prestacop.simulator.images import vehicle_png

DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol.md"
EXAMPLE = re.compile(
    r"(?:Upload the image on `(?P<image>[^`]+)` \(section 6\), then "
    r"publish|Publish) on\s+`(?P<subject>[^`]+)` \(stream `(?P<stream>[A-Z_]+)`\):\n\n"
    r"```json\n(?P<body>.*?)\n```",
    re.S,
)
EVENT_TYPES = AnyEvent.__args__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Example:
    subject: str
    stream: str
    body: str
    image: str | None

    def for_tenant(self, tenant: str) -> Example:
        """The same example for a test's own tenant, with ids made unique to it."""
        body, subject, image = self.body, self.subject, self.image
        ids = re.findall(r'"(?:message_id|image_id|alert_id)": "([^"]+)"', body)
        for old in ids:
            body = body.replace(f'"{old}"', f'"{old}-{tenant}"')
            subject = subject.replace(f".{old}", f".{old}-{tenant}")
            if image:
                image = image.replace(f".{old}", f".{old}-{tenant}")
        subject = subject.replace("prestacop.nypd.", f"prestacop.{tenant}.")
        if image:
            image = image.replace("prestacop.nypd.", f"prestacop.{tenant}.")
        return Example(subject, self.stream, body, image)


def examples() -> list[Example]:
    text = DOC.read_text(encoding="utf-8")
    return [
        Example(m["subject"], m["stream"], m["body"], m["image"]) for m in EXAMPLE.finditer(text)
    ]


def tag(event_type: type) -> str:
    return event_type.__struct_config__.tag  # type: ignore[no-any-return]


def test_the_doc_has_an_example_of_every_event_type() -> None:
    shown = {json.loads(e.body)["type"] for e in examples()}
    assert shown == {tag(t) for t in EVENT_TYPES}
    codes = [json.loads(e.body).get("violation_code") for e in examples()]
    assert 0 in codes and any(c for c in codes)  # a human-review one and a coded one


def test_the_doc_describes_every_field_of_every_event() -> None:
    text = DOC.read_text(encoding="utf-8")
    missing = [
        f"{tag(t)}.{f.name}"
        for t in EVENT_TYPES
        for f in msgspec.structs.fields(t)
        if f"| `{f.name}` |" not in text
    ]
    assert missing == []


def test_the_doc_explains_every_quarantine_reason() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert [r for r in codec.REASONS if f"| `{r}` |" not in text] == []


async def upload_by_recipe(js: JetStreamContext, subject: str, data: bytes) -> None:
    """Section 6: one message on the image's subject, with its content type and id."""
    image_id = subject.rsplit(".", 1)[1]
    msg_id = f"image:{image_id}:{hashlib.sha256(data).hexdigest()[:32]}"
    headers = {"Content-Type": "image/png", "Nats-Msg-Id": msg_id}
    ack = await js.publish(subject, data, headers=headers)
    assert ack.stream == "PRESTACOP_IMAGES"
    again = await js.publish(subject, data, headers=headers)  # a resend: a duplicate, not an error
    assert again.duplicate


async def read_back(js: JetStreamContext, subject: str, stream: str, seq: int) -> Msg:
    """The message at ``seq`` of ``stream``, as a consumer (and the gate) receives it."""
    sub = await js.subscribe(subject, stream=stream, ordered_consumer=True)
    try:
        while (msg := await sub.next_msg(timeout=5)).metadata.sequence.stream < seq:
            pass
    finally:
        await sub.unsubscribe()
    assert msg.metadata.sequence.stream == seq
    return msg


async def test_every_example_sent_by_hand_is_stored_where_the_doc_says_and_accepted(
    log: LogClient, nats_url: str, tenant: str
) -> None:
    nc = await nats.connect(nats_url, **credential_options(None, None))  # the module's creds
    js = nc.jetstream()
    gate = Gate(log.source, log.publisher, log.images)
    uploads = 0
    try:
        for example in (e.for_tenant(tenant) for e in examples()):
            body = example.body.encode()
            if example.image:
                image = vehicle_png("KDT4417", "GRAY", random.Random(1))
                await upload_by_recipe(js, example.image, image)
                uploads += 1
                image_id = example.image.rsplit(".", 1)[1]
                assert await ImageStore(js).get(tenant, image_id) == image
            message_id = json.loads(body)["message_id"]
            ack = await js.publish(example.subject, body, headers={"Nats-Msg-Id": message_id})
            assert ack.stream == example.stream and not ack.duplicate, example.subject

            stored = await read_back(js, example.subject, ack.stream, ack.seq)
            assert stored.data == body
            codec.decode(stored.subject, stored.data, stored.metadata.timestamp)
            verdict = await gate.judge(stored)
            assert verdict is None, verdict
    finally:
        await nc.close()
    assert uploads == 2  # both examples with an image


async def test_a_message_that_breaks_the_doc_is_judged_invalid_with_its_reason(
    log: LogClient, tenant: str
) -> None:
    """The counter-proof: the same position example with latitude 91 is not accepted."""
    position = next(e for e in examples() if '"type": "position"' in e.body).for_tenant(tenant)
    bad = position.body.replace('"latitude": 40.758912', '"latitude": 91')
    with pytest.raises(codec.InvalidMessage, match=r"invalid_field.*\$\.latitude"):
        codec.decode(position.subject, bad.encode(), datetime(2025, 2, 1, tzinfo=UTC))
