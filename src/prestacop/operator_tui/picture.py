"""Drawing a violation image in any terminal, and keeping a file to open it full size.

Half-block characters (two pixels a cell, true colour) work in every terminal
that Textual supports, over SSH and in tmux, unlike graphics protocols that only
some terminals speak; the file is there for the detail a terminal cannot show.
"""

from __future__ import annotations

import io
import tempfile
import warnings
from pathlib import Path
from typing import cast

from rich.color import Color
from rich.style import Style
from rich.text import Text

MAX_PIXELS = 40_000_000
"""A drone camera's picture is far smaller: a larger one (or a decompression bomb, a few KB
of PNG declaring billions of pixels) is not drawn; its file is still saved."""
_KINDS = {b"\xff\xd8": ".jpg", b"\x89PNG": ".png", b"GIF8": ".gif", b"RIFF": ".webp"}


def suffix_for(data: bytes) -> str:
    return next((ext for magic, ext in _KINDS.items() if data.startswith(magic)), ".bin")


def save_image(data: bytes, image_id: str, folder: Path | None = None) -> Path:
    """Write the image where the officer can open it; the same id gives the same path."""
    folder = folder or Path(tempfile.gettempdir()) / "prestacop-images"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{image_id}{suffix_for(data)}"
    path.write_bytes(data)
    return path


def halfblocks(data: bytes, width: int, height: int) -> Text | None:
    """The image as ``width`` x ``height`` cells of half blocks; ``None`` if not a picture."""
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        return None
    try:
        with warnings.catch_warnings():  # a warning would scribble over the console
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            opened = Image.open(io.BytesIO(data))
        if opened.width * opened.height > MAX_PIXELS:
            return None
        img = opened.convert("RGB")
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError):
        return None
    img.thumbnail((max(1, width), max(2, height * 2)))
    w, h = img.size
    px = img.load()
    assert px is not None
    text = Text(no_wrap=True, overflow="crop")
    for y in range(0, h - h % 2, 2):
        for x in range(w):
            top = cast(tuple[int, ...], px[x, y])  # RGB: a tuple, never a float
            bottom = cast(tuple[int, ...], px[x, y + 1])
            text.append(
                "▀",
                Style(color=Color.from_rgb(*top[:3]), bgcolor=Color.from_rgb(*bottom[:3])),
            )
        text.append("\n")
    text.rstrip()
    return text
