"""A shape-checking stand-in for a vision model's OpenAI-compatible server, on 127.0.0.1.

No vision model ships in a package here, so image requests are verified against this: every
user message's content parts must have the OpenAI chat shape (``text`` parts and
``image_url`` parts with a ``url``); a ``data:`` URL must be base64 with an image MIME type and
decode to the bytes of one of the ``known`` files, with that file's MIME type; an http(s) URL
must be one of ``known_urls``. A request that passes is answered with the label of the image
in the last user message (so the answer shows which bytes arrived); one that fails gets a 400
naming the problem, also kept in ``problems``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.stub_server import Reply, StubServer, default_answer, error

_DATA_URL = re.compile(r"data:(image/[a-z]+);base64,([A-Za-z0-9+/]+={0,2})")
_MIME = {".png": "image/png", ".jpg": "image/jpeg", ".gif": "image/gif", ".webp": "image/webp"}


class ShapeError(Exception):
    pass


class VisionCheck:
    """The server's script: ``known`` maps image files to the label to answer for them."""

    def __init__(self, known: Mapping[Path, str], known_urls: Mapping[str, str] = {}) -> None:
        self.known = {
            hashlib.sha256(path.read_bytes()).hexdigest(): (_MIME[path.suffix], label)
            for path, label in known.items()
        }
        self.known_urls = dict(known_urls)
        self.problems: list[str] = []
        self.images_seen = 0

    def __call__(self, body: dict[str, Any]) -> Reply:
        try:
            label = self.check(body)
        except ShapeError as exc:
            self.problems.append(str(exc))
            return error(400, f"bad image request: {exc}")
        answer = default_answer(body)
        for choice in answer["choices"]:
            choice["message"]["content"] = json.dumps({"label": label})
        return Reply(200, answer)

    def check(self, body: dict[str, Any]) -> str:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise ShapeError("no messages")
        labels: list[list[str]] = []
        for i, message in enumerate(messages):
            content = message.get("content")
            if message.get("role") != "user" or isinstance(content, str):
                if not isinstance(content, str):
                    raise ShapeError(f"message {i} ({message.get('role')}) content is not text")
                labels.append([])
                continue
            labels.append([self._part(part, i) for part in _parts(content, i)])
        if messages[-1].get("role") != "user" or not labels[-1]:
            raise ShapeError("the last message is not a user message with an image")
        return labels[-1][0]

    def _part(self, part: dict[str, Any], i: int) -> str:
        url = part["image_url"]["url"]
        self.images_seen += 1
        if url.startswith(("http://", "https://")):
            if url not in self.known_urls:
                raise ShapeError(f"message {i}: unknown image URL {url}")
            return self.known_urls[url]
        match = _DATA_URL.fullmatch(url)
        if match is None:
            raise ShapeError(f"message {i}: not a base64 image data URL: {url[:40]}")
        try:
            data = base64.b64decode(match[2], validate=True)
        except binascii.Error as exc:
            raise ShapeError(f"message {i}: bad base64: {exc}") from None
        found = self.known.get(hashlib.sha256(data).hexdigest())
        if found is None:
            raise ShapeError(f"message {i}: the image bytes match no known file")
        mime, label = found
        if match[1] != mime:
            raise ShapeError(f"message {i}: MIME type {match[1]}, the file is {mime}")
        return label


def _parts(content: Any, i: int) -> list[dict[str, Any]]:
    """The image parts of a user message's content, after checking every part's shape."""
    if not isinstance(content, list) or not content:
        raise ShapeError(f"message {i}: content is neither text nor a list of parts")
    images = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text" and set(part) == {"type", "text"} and isinstance(part["text"], str):
            continue
        if kind == "image_url" and set(part) == {"type", "image_url"}:
            inner = part["image_url"]
            if isinstance(inner, dict) and set(inner) <= {"url", "detail"} and "url" in inner:
                images.append(part)
                continue
        raise ShapeError(f"message {i}: malformed content part {json.dumps(part)[:80]}")
    return images


def vision_server(
    known: Mapping[Path, str], known_urls: Mapping[str, str] = {}
) -> tuple[StubServer, VisionCheck]:
    check = VisionCheck(known, known_urls)
    return StubServer(check), check
