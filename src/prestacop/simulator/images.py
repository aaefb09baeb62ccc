"""Small real images of the offending vehicle: valid PNGs drawn in pure Python.

No imaging library on a drone's simulator: a palette PNG (zlib + CRC, as the
PNG spec says) of a street, the vehicle in its colour, and its plate written in
a 5x7 pixel font, so an officer looking at an alert sees the plate it claims.
"""

from __future__ import annotations

import random
import struct
import zlib

WIDTH, HEIGHT = 160, 100
CONTENT_TYPE = "image/png"

COLOR_RGB = {
    "BLACK": (25, 25, 28),
    "WHITE": (235, 235, 230),
    "GRAY": (128, 128, 132),
    "SILVER": (192, 192, 198),
    "BLUE": (30, 70, 160),
    "RED": (175, 30, 35),
    "GREEN": (30, 110, 60),
    "BROWN": (110, 70, 40),
    "YELLOW": (240, 200, 30),
    "GOLD": (200, 165, 70),
}
_FONT = (  # 5x7 pixels, one hex byte per row, for "0-9", "A-Z" and "-"
    "0e11131519110e 040c040404040e 0e11010204081f 1f02040201110e 02060a121f0202 "
    "1f101e0101110e 0608101e11110e 1f010204080808 0e11110e11110e 0e11110f01020c "
    "0e11111f111111 1e11111e11111e 0e11101010110e 1c12111111121c 1f10101e10101f "
    "1f10101e101010 0e11101711110f 1111111f111111 0e04040404040e 0702020202120c "
    "11121418141211 1010101010101f 111b1515111111 11111915131111 0e11111111110e "
    "1e11111e101010 0e11111115120d 1e11111e141211 0f10100e01011e 1f040404040404 "
    "1111111111110e 11111111110a04 1111111515150a 11110a040a1111 1111110a040404 "
    "1f01020408101f 0000001f000000"
)
_GLYPHS = dict(zip("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ-", _FONT.split(), strict=True))


def _glyph_rows(char: str) -> list[int]:
    code = _GLYPHS.get(char.upper(), "00000000000000")
    return [int(code[i : i + 2], 16) for i in range(0, 14, 2)]


def _chunk(kind: bytes, data: bytes) -> bytes:
    body = kind + data
    return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))


def encode_png(pixels: list[bytearray], palette: list[tuple[int, int, int]]) -> bytes:
    """A palette PNG (colour type 3, 8 bits) of rows of palette indices."""
    height, width = len(pixels), len(pixels[0])
    raw = b"".join(b"\x00" + bytes(row) for row in pixels)  # filter 0 on every row
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0))
        + _chunk(b"PLTE", b"".join(bytes(rgb) for rgb in palette))
        + _chunk(b"IDAT", zlib.compress(raw, 6))
        + _chunk(b"IEND", b"")
    )


def _fill(px: list[bytearray], x0: int, y0: int, x1: int, y1: int, index: int) -> None:
    for y in range(max(0, y0), min(len(px), y1)):
        px[y][max(0, x0) : x1] = bytes([index]) * (min(len(px[0]), x1) - max(0, x0))


def vehicle_png(plate: str, color: str, rng: random.Random) -> bytes:
    """A picture of a vehicle of ``color`` with ``plate`` readable on it."""
    r, g, b = COLOR_RGB.get(color, (128, 128, 132))
    palette = [
        (62, 64, 66),
        (74, 76, 78),
        (220, 220, 210),  # asphalt, its grain, kerb paint
        (r, g, b),
        (r * 2 // 3, g * 2 // 3, b * 2 // 3),  # body, its shade
        (40, 55, 70),
        (15, 15, 15),
        (245, 245, 240),
        (10, 10, 60),
        (220, 30, 30),
    ]
    ASPHALT, GRAIN, PAINT, BODY, SHADE, GLASS, TYRE, PLATE, INK, FRAME = range(10)
    px = [bytearray([ASPHALT]) * WIDTH for _ in range(HEIGHT)]
    for _ in range(400):
        px[rng.randrange(HEIGHT)][rng.randrange(WIDTH)] = GRAIN
    _fill(px, 0, 90, WIDTH, 93, PAINT)
    _fill(px, 18, 24, 142, 78, BODY)
    _fill(px, 30, 12, 130, 26, SHADE)
    _fill(px, 36, 15, 124, 24, GLASS)
    _fill(px, 18, 70, 142, 78, SHADE)
    for x in (26, 114):
        _fill(px, x, 78, x + 20, 88, TYRE)
    text = plate[:10]
    scale = 2 if len(text) <= 8 else 1
    plate_w = len(text) * 6 * scale + 6
    x0, y0 = (WIDTH - plate_w) // 2, 52
    _fill(px, x0, y0, x0 + plate_w, y0 + 7 * scale + 6, PLATE)
    for i, char in enumerate(text):
        for row, bits in enumerate(_glyph_rows(char)):
            for col in range(5):
                if bits & (0x10 >> col):
                    cx, cy = x0 + 3 + (i * 6 + col) * scale, y0 + 3 + row * scale
                    _fill(px, cx, cy, cx + scale, cy + scale, INK)
    for x0_, y0_, x1_, y1_ in ((8, 6, 152, 8), (8, 92, 152, 94), (8, 6, 10, 94), (150, 6, 152, 94)):
        _fill(px, x0_, y0_, x1_, y1_, FRAME)
    return encode_png(px, palette)
