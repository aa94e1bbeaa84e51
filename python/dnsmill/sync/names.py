"""Zone names as the sync service accepts them: checked strictly before a name touches a file
path, a configuration line or SQL.

A name from DirectAdmin is compared case-insensitively and without its trailing dot, so it is
lowercased and the dot dropped; what is left must be A-labels (an IDN arrives as ``xn--``
labels), letters, digits and hyphens, each label 1 to 63 characters and not starting or ending
with a hyphen, at least two labels, at most 253 characters. Nothing else gets through: no
``/``, ``\\``, ``"``, ``;``, ``{``, ``}``, ``#``, whitespace or NUL, so a name can be put in a
path and in ``named.conf`` as it is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
MAX_NAME = 253


class BadZoneName(ValueError):
    """A zone name the sync service refuses, and why."""


def zone_name(text: str, allowed_suffixes: Iterable[str] = ()) -> str:
    """``text`` as a checked zone name: lowercase, without the trailing dot. With
    ``allowed_suffixes``, the name must be one of them or end in ``.`` and one of them.

    Raises :class:`BadZoneName` saying what is wrong (the name shown escaped)."""
    shown = ascii(text)
    if not isinstance(text, str) or not text:
        raise BadZoneName("the zone name is empty")
    name = text.lower()
    if name.endswith(".") and not name.endswith(".."):
        name = name[:-1]
    if not name.isascii():
        raise BadZoneName(f"zone {shown}: not ASCII (send an IDN as its xn-- labels)")
    if len(name) > MAX_NAME:
        raise BadZoneName(f"zone {shown}: longer than {MAX_NAME} characters")
    labels = name.split(".")
    if len(labels) < 2:
        raise BadZoneName(f"zone {shown}: needs at least two labels (example.com)")
    for label in labels:
        if not label:
            raise BadZoneName(f"zone {shown}: has an empty label")
        if len(label) > 63:
            raise BadZoneName(f"zone {shown}: label {label[:20]!r}... is longer than 63 characters")
        if not _LABEL.fullmatch(label):
            raise BadZoneName(f"zone {shown}: label {label!a} is not letters, digits and inner hyphens")
    suffixes = [suffix.lower().rstrip(".") for suffix in allowed_suffixes]
    if suffixes and not any(name == suffix or name.endswith(f".{suffix}") for suffix in suffixes):
        raise BadZoneName(f"zone {shown}: not under an allowed suffix ({', '.join(suffixes)})")
    return name


def zone_path(directory: Path, name: str, extension: str = ".db") -> Path:
    """The file of zone ``name`` (already checked by :func:`zone_name`) in ``directory``,
    checked to be a direct child of it."""
    base = directory.resolve()
    path = (base / f"{name}{extension}").resolve()
    if path.parent != base:
        raise BadZoneName(f"zone {name!a}: its file would be outside {base}")
    return path
