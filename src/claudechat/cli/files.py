"""Files the CLI writes for the user: exports are private (0600) and never overwritten
by accident."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..config import PRIVATE_MODE

__all__ = ["write_private"]


def write_private(path: Path, text: str, *, overwrite: bool) -> None:
    """Write ``text`` to ``path`` readable by its owner only; FileExistsError when the
    file exists and ``overwrite`` is False (a device such as /dev/stdout is written as is)."""
    if not overwrite and path.is_file():
        raise FileExistsError(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_MODE)
    with open(fd, "w", encoding="utf-8") as file:
        if stat.S_ISREG(os.fstat(fd).st_mode):
            os.fchmod(fd, PRIVATE_MODE)  # an existing file may have been looser
        file.write(text)
