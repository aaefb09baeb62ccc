"""The console draws whatever bytes a drone stored as its image: never a crash, never a
picture larger than a camera's (a decompression bomb declares billions of pixels)."""

from __future__ import annotations

import io
import os
import struct
import zlib

import pytest

from prestacop.operator_tui.picture import halfblocks

PIL = pytest.importorskip("PIL.Image")


def png(width: int, height: int, rows: int | None = None) -> bytes:
    """A PNG of ``width`` x ``height`` black pixels, with only its first ``rows`` stored
    (all by default): megapixels of black compress to a few hundred kilobytes."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    packer, row = zlib.compressobj(), b"\x00" * (1 + 3 * width)
    idat = b"".join(packer.compress(row) for _ in range(height if rows is None else rows))
    idat += packer.flush()
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.mark.parametrize(
    "data",
    [
        png(60_000, 60_000, rows=1),  # over PIL's bomb limit: DecompressionBombError escaped
        png(8_000, 6_000),  # under it, but 144 MB and seconds to draw in a terminal
        b"",
        os.urandom(2048),
        b"\xff\xd8" + os.urandom(2048),  # a JPEG's magic, then noise
    ],
    ids=["bomb", "48 MP", "empty", "noise", "jpeg magic"],
)
def test_hostile_image_bytes_are_no_picture(data: bytes) -> None:
    assert halfblocks(data, 32, 9) is None


def test_a_camera_picture_is_drawn() -> None:
    buf = io.BytesIO()
    PIL.new("RGB", (4000, 3000), (200, 30, 30)).save(buf, "JPEG")
    text = halfblocks(buf.getvalue(), 32, 9)
    assert text is not None and len(text.plain.splitlines()) == 9
