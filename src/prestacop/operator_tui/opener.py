"""Opening a saved file in the desktop's viewer, where there is a desktop."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path


def open_in_viewer(path: Path) -> bool:
    """Start the desktop's viewer on ``path`` (detached); ``False`` if there is none here."""
    opener = "open" if sys.platform == "darwin" else "xdg-open"
    if not shutil.which(opener) or not (sys.platform == "darwin" or _has_display()):
        return False
    subprocess.Popen(
        [opener, str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    return True


def _has_display() -> bool:
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
