"""Image record fields: a path or URL in a record becomes an image URL for a vision model.

A URL (``http(s)://`` or an existing ``data:`` URL) is sent as is; a local file is read and
sent as a base64 ``data:`` URL whose MIME type comes from the file's bytes (PNG, JPEG, GIF,
WebP, BMP), not from its name. Relative paths are relative to the current directory. A record
names files, so it may name any file: a file is read only if it lies under ``root`` (symlinks
resolved), else the record is bad input.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from llmlabel.core.request import Message
from llmlabel.errors import InputError

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"BM", "image/bmp"),
)
_URL_PREFIXES = ("http://", "https://", "data:image/")


def mime_type(data: bytes) -> str | None:
    """The image MIME type of ``data`` from its magic bytes, or None if it is no known image."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return next((mime for magic, mime in _SIGNATURES if data.startswith(magic)), None)


def data_url(data: bytes, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def image_url(value: Any, what: str, root: Path | None = None) -> str:
    """The URL to send for one image field value; ``what`` names the record and field in
    errors (``record 'r1' field 'image'``); a file must lie under ``root`` (if given)."""
    if not isinstance(value, str) or not value.strip():
        raise InputError(
            f"{what} is {value!r}, not an image path or URL",
            hint="an image field holds a file path, an http(s) URL or a data: URL",
        )
    if value.startswith(_URL_PREFIXES):
        return value
    path = Path(value).expanduser()
    if root is not None and not path.resolve().is_relative_to(root.resolve()):
        raise InputError(
            f"{what}: image {value} is outside the image folder {root}",
            where=str(path.resolve()),
            hint="images are read only under image_root (default: the input file's folder); "
            "widen it with --image-root DIR or `image_root:` in the task file",
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(
            f"{what}: cannot read image {value}: {exc.strerror or exc}",
            where=str(path.resolve()),
            hint="image paths are relative to the current directory",
        ) from None
    mime = mime_type(data)
    if mime is None:
        raise InputError(
            f"{what}: {value} is not a PNG, JPEG, GIF, WebP or BMP image",
            where=str(path.resolve()),
            hint="convert it, or send it as an http(s) URL",
        )
    return data_url(data, mime)


def image_urls(
    record_id: str, data: Mapping[str, Any], fields: Sequence[str], root: Path | None = None
) -> tuple[str, ...]:
    """The URLs of a record's image ``fields``, in order (a list value is several images);
    files must lie under ``root`` (if given)."""
    urls: list[str] = []
    for field in fields:
        what = f"record '{record_id}' field '{field}'"
        if field not in data:
            raise InputError(
                f"{what} is missing",
                hint="every record needs its image fields (`image_fields:` in the task)",
            )
        value = data[field]
        for item in value if isinstance(value, list) else [value]:
            urls.append(image_url(item, what, root))
    return tuple(urls)


def with_images(
    messages: Sequence[Message], images: Sequence[tuple[str, ...]]
) -> tuple[Message, ...]:
    """``messages`` with the i-th user message carrying ``images[i]``."""
    queue = iter(images)
    return tuple(
        m.model_copy(update={"images": next(queue)}) if m.role == "user" else m for m in messages
    )
