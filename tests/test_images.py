"""Image records, checked against a shape-checking OpenAI-compatible endpoint on 127.0.0.1
(``tests/vision_server.py``): no vision model ships in a package here."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import llmlabel
from llmlabel.core.request import LabelRequest, Message
from llmlabel.core.spec import parse_task
from llmlabel.errors import ConfigError, InputError
from llmlabel.io.images import image_url, mime_type
from tests.vision_server import vision_server

ROOT = Path(__file__).resolve().parent.parent
FOLDER = ROOT / "examples" / "images"
TASK = FOLDER / "task.yaml"
GOLD = {
    r["id"]: r["label"]
    for r in map(json.loads, (FOLDER / "pictures.gold.jsonl").read_text().splitlines())
}
FILES = {
    ROOT / r["image"]: GOLD[r["id"]]
    for r in map(json.loads, (FOLDER / "pictures.jsonl").read_text().splitlines())
}


@pytest.fixture
def in_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the example's image paths are relative to the repository


def test_every_record_sends_its_own_image_bytes(tmp_path: Path, in_root: None) -> None:
    server, check = vision_server(FILES)
    with server:
        out = tmp_path / "out.jsonl"
        overrides = {"backend.base_url": server.url, "samples": 2}
        llmlabel.label(TASK, FOLDER / "pictures.jsonl", out, overrides=overrides, cache=False)
        bodies = list(server.bodies)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert check.problems == [] and check.images_seen == len(GOLD)
    assert {r["id"]: r["label"] for r in rows} == GOLD  # each answer names the bytes it got
    assert all(r["status"] == "labeled" and r["confidence"] == 1.0 for r in rows)
    for body in bodies:
        system, user = body["messages"]
        assert isinstance(system["content"], str)
        assert [part["type"] for part in user["content"]] == ["image_url"]  # no empty text part


def test_few_shot_images_and_urls_and_text_fields(tmp_path: Path, in_root: None) -> None:
    url = "https://images.example/red.png"
    server, check = vision_server(FILES, {url: "red"})
    shots = [{"id": "s1", "image": "examples/images/shape3.gif", "caption": "b", "label": "blue"}]
    overrides = {"backend.base_url": server.url, "examples.items": shots, "fields": ["caption"]}
    with server:
        [row] = llmlabel.label_records(
            TASK,
            [{"id": "u", "image": url, "caption": "a shape"}],
            overrides=overrides,
            cache=False,
        )
        [body] = server.bodies
    assert check.problems == [] and row["label"] == "red" and row["examples"] == ["s1"]
    _, shot, answer, record = body["messages"]
    assert shot["content"][0] == {"type": "text", "text": "b"}
    assert shot["content"][1]["image_url"]["url"].startswith("data:image/gif;base64,")
    assert answer == {"role": "assistant", "content": '{"label": "blue"}'}
    assert record["content"] == [
        {"type": "text", "text": "a shape"},
        {"type": "image_url", "image_url": {"url": url}},
    ]


def test_the_checker_refuses_wrong_bytes_and_mime(tmp_path: Path) -> None:
    server, check = vision_server(FILES)
    fake = tmp_path / "fake.png"
    fake.write_bytes((FOLDER / "shape1.png").read_bytes() + b"x")
    liar = tmp_path / "liar.png"
    liar.write_bytes((FOLDER / "shape1.png").read_bytes())
    bad = "data:image/jpeg;base64," + image_url(str(liar), "t").split(",", 1)[1]
    with server:
        for image in (str(fake), bad):
            [row] = llmlabel.label_records(
                TASK,
                [{"id": "x", "image": image}],
                overrides={
                    "backend.base_url": server.url,
                    "retries.attempts": 1,
                    "image_root": str(tmp_path),
                },
                cache=False,
            )
            assert row["status"] == "failed" and "bad image request" in row["error"]
    assert check.problems == [
        "message 1: the image bytes match no known file",
        "message 1: MIME type image/jpeg, the file is image/png",
    ]


def test_missing_image_is_one_line_naming_the_record(tmp_path: Path) -> None:
    overrides = {"backend.base_url": "http://127.0.0.1:9/v1", "image_root": str(tmp_path)}
    with pytest.raises(InputError, match="record 'gone' field 'image': cannot read image"):
        llmlabel.label_records(
            TASK,
            [{"id": "gone", "image": str(tmp_path / "nope.png")}],
            overrides=overrides,
            cache=False,
        )
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(InputError, match=r"record 'n' field 'image': .* is not a PNG, JPEG"):
        llmlabel.label_records(
            TASK, [{"id": "n", "image": str(text)}], overrides=overrides, cache=False
        )


def test_cli_missing_image_exits_2_with_one_line(tmp_path: Path) -> None:
    records = tmp_path / "in.jsonl"
    records.write_text(json.dumps({"id": "r7", "image": "missing/cat.png"}) + "\n")
    result = subprocess.run(
        [
            *(sys.executable, "-m", "llmlabel", "run", str(TASK), "-i", str(records)),
            *("-o", str(tmp_path / "o.jsonl"), "--base-url", "http://127.0.0.1:9/v1", "--no-cache"),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert "record 'r7' field 'image': cannot read image missing/cat.png" in result.stderr
    assert "Traceback" not in result.stderr


def test_embedded_backend_is_text_only() -> None:
    data = {"name": "t", "labels": ["a"], "fields": [], "image_fields": ["image"]}
    with pytest.raises(ConfigError, match="the embedded backend is text-only"):
        parse_task(data)
    member = {"backend": {"type": "embedded"}}
    with pytest.raises(ConfigError, match="text-only"):
        parse_task({**data, "backend": {"type": "openai_compat"}, "committee": [member]})
    with pytest.raises(ConfigError, match="a field is text"):
        parse_task({**data, "fields": ["image"], "backend": {"type": "openai_compat"}})
    with pytest.raises(ConfigError, match="needs at least one record field"):
        parse_task({"name": "t", "labels": ["a"], "fields": []})


@pytest.mark.parametrize(
    ("name", "mime"),
    [
        ("shape1.png", "image/png"),
        ("shape2.jpg", "image/jpeg"),
        ("shape3.gif", "image/gif"),
        ("shape4.webp", "image/webp"),
    ],
)
def test_mime_type_comes_from_the_bytes(name: str, mime: str) -> None:
    assert mime_type((FOLDER / name).read_bytes()) == mime
    assert mime_type(b"BM" + bytes(20)) == "image/bmp" and mime_type(b"hello") is None


def test_messages_with_images_and_stable_text_cache_keys() -> None:
    plain = Message(role="user", content="hi")
    assert plain.as_dict() == {"role": "user", "content": "hi"}
    pictured = Message(role="user", content="", images=("data:image/png;base64,AA==",))
    assert pictured.as_dict()["content"] == [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}}
    ]
    request = LabelRequest(messages=(plain,), json_schema={})
    # the key text-only requests had before messages could carry images: caches stay valid
    assert request.cache_key("m") == (
        "92229d4712bc78212784c27bc52afbed5834da8f89b19a735e27ec5e5f9b082a"
    )
    with_image = LabelRequest(messages=(pictured,), json_schema={})
    other = LabelRequest(messages=(pictured.model_copy(update={"images": ("x",)}),), json_schema={})
    assert with_image.cache_key("m") != other.cache_key("m")


def test_on_error_skip_writes_a_skipped_row_for_a_missing_image(
    tmp_path: Path, in_root: None
) -> None:
    records = tmp_path / "in.jsonl"
    lines = [{"id": "ok", "image": "examples/images/shape1.png"}, {"id": "bad", "image": "no.png"}]
    records.write_text("".join(json.dumps(r) + "\n" for r in lines))
    server, _ = vision_server(FILES)
    out = tmp_path / "out.jsonl"
    with server:
        overrides = {"backend.base_url": server.url, "image_root": str(ROOT)}
        llmlabel.label(TASK, records, out, overrides=overrides, cache=False, on_error="skip")
    rows = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert rows["ok"]["status"] == "labeled" and rows["bad"]["status"] == "skipped"
    assert "record 'bad' field 'image': cannot read image no.png" in rows["bad"]["error"]


def test_record_images_are_read_only_under_the_image_root(tmp_path: Path) -> None:
    data, outside = tmp_path / "data", tmp_path / "private"
    data.mkdir(), outside.mkdir()
    for folder in (data, outside):
        (folder / "shape1.png").write_bytes((FOLDER / "shape1.png").read_bytes())
    (data / "link.png").symlink_to(outside / "shape1.png")
    lines = [
        {"id": "inside", "image": str(data / "shape1.png")},
        {"id": "absolute", "image": str(outside / "shape1.png")},
        {"id": "dotdot", "image": str(data / ".." / "private" / "shape1.png")},
        {"id": "symlink", "image": str(data / "link.png")},
    ]
    records = data / "in.jsonl"
    records.write_text("".join(json.dumps(r) + "\n" for r in lines))
    known = {data / "shape1.png": "red", outside / "shape1.png": "red"}
    server, _ = vision_server(known)

    def run(*extra: str | Path) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "llmlabel", "run", str(TASK), "-i", str(records)]
        command += ["--base-url", server.url, "--no-cache", "--overwrite", *map(str, extra)]
        return subprocess.run(command, capture_output=True, text=True, timeout=120)

    out = tmp_path / "out.jsonl"
    with server:
        stopped = run("-o", out)
        skipped = run("-o", out, "--on-error", "skip")
        rows = {r["id"]: r for r in map(json.loads, out.read_text().splitlines())}
        widened = run("-o", out, "--image-root", tmp_path)
        wide = {r["id"]: r["status"] for r in map(json.loads, out.read_text().splitlines())}
    assert stopped.returncode == 2 and len(stopped.stderr.splitlines()) == 1, stopped.stderr
    assert "record 'absolute' field 'image': image" in stopped.stderr
    assert "outside the image folder" in stopped.stderr and "--image-root" in stopped.stderr
    assert skipped.returncode == 0, skipped.stderr
    assert rows["inside"]["status"] == "labeled"
    for name in ("absolute", "dotdot", "symlink"):
        assert rows[name]["status"] == "skipped", rows[name]
        assert "outside the image folder" in rows[name]["error"]
    assert widened.returncode == 0 and set(wide.values()) == {"labeled"}, widened.stderr
