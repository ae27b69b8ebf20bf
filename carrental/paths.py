"""Folders given on the command line (``--lake-dir``), checked before a command uses them.

Declare such options as ``str``, never as ``Path``: Typer's ``Path`` type normalises the
value through :mod:`pathlib`, which collapses the ``//`` of a URI, so ``s3://bucket/lake``
reaches the command as ``s3:/bucket/lake``: a URI check never fires, messages show the
garbled name and a local folder ``./s3:/bucket/lake`` gets created. Convert the string with
:func:`local_folder`, which refuses any ``scheme://`` URI by the option's name (exit 2).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from carrental.errors import UsageError

#: ``s3://…``, ``s3a://…``, ``gs://…``, ``file://…``: a scheme of two or more characters (so
#: a Windows drive ``C:/`` is not one) followed by ``://``.
URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+://")

DEFAULT_HINT = "pass a local folder, e.g. --lake-dir lake"


def is_uri(value: str | os.PathLike[str]) -> bool:
    """True for ``scheme://…`` (an object-store or file URI), False for a local path."""
    return bool(URI.match(os.fspath(value)))


def local_folder(
    value: str | os.PathLike[str], option: str = "--lake-dir", hint: str | None = None
) -> Path:
    """``value`` as a local :class:`Path`; a URI is a :class:`UsageError` naming ``option``."""
    text = os.fspath(value)
    if is_uri(text):
        raise UsageError(
            f"{option} must be a local folder, not the URI {text}", hint=hint or DEFAULT_HINT
        )
    return Path(text)
