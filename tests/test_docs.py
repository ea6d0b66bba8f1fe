"""The README's and the docs' commands and Python examples run as written; the site holds together.

Every ```bash block's `llmlabel ...` lines and every ```python block of README.md and docs/*.md
run here, in a temporary folder holding examples/, schemas/ and prompts/, each command by the
test that fits it (`runner`). A block that cannot run here says why in a
`<!-- not run: reason -->` comment on the line before it; any other block the tests do not run
fails `test_every_block_runs_or_says_why`.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from llmlabel.task import load

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
NOT_RUN = re.compile(r"<!-- not run: (.+?) -->")
# Fences whose code the tests run (or that must say why not); the rest hold data.
RUN_LANGS = {"bash", "sh", "shell", "console", "python", "py"}
DATA_LANGS = {"yaml", "json", "text", ""}


def nav_pages() -> list[str]:
    """The docs pages in mkdocs.yml's nav, in order (relative to docs/)."""

    def walk(node: Any) -> list[str]:
        if isinstance(node, str):
            return [node]
        if isinstance(node, list):
            return [page for item in node for page in walk(item)]
        if isinstance(node, dict):
            return [page for value in node.values() for page in walk(value)]
        return []

    config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=yaml.BaseLoader)
    return walk(config["nav"])


def documents() -> list[Path]:
    """README.md, then the docs pages in nav order, then any page the nav misses."""
    listed = [DOCS / page for page in nav_pages()]
    unlisted = sorted(p for p in DOCS.rglob("*.md") if p not in listed)
    return [README, *listed, *unlisted]


@dataclass(frozen=True)
class Block:
    path: Path
    line: int
    lang: str
    code: str
    not_run: str | None

    def __str__(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def blocks(path: Path) -> list[Block]:
    found = []
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        fence = re.match(r"```(\S*)\s*$", lines[i])
        if not fence:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        before = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        marker = NOT_RUN.fullmatch(before.strip())
        code = "\n".join(lines[i + 1 : end]) + "\n"
        found.append(Block(path, i + 1, fence.group(1), code, marker.group(1) if marker else None))
        i = end + 1
    return found


ALL_BLOCKS = [b for path in documents() for b in blocks(path)]
RUN_BLOCKS = [b for b in ALL_BLOCKS if b.lang in RUN_LANGS and b.not_run is None]


def llmlabel_commands() -> list[str]:
    lines = [line.strip() for b in RUN_BLOCKS if b.lang == "bash" for line in b.code.splitlines()]
    return [line.split("#")[0].strip() for line in lines if line.startswith("llmlabel ")]


def runner(command: str) -> str | None:
    """Which test runs a command (None: none does)."""
    if command.startswith("llmlabel calibrate") or "--calibration" in command:
        return "calibrate"  # needs the calib.json of the command before it
    if "--runner ray" in command:
        return "ray"  # run in a private network namespace: test_ray_runner.py
    for prefix, name in [
        ("llmlabel eval", "eval"),
        ("llmlabel compare", "compare"),
        ("llmlabel tune", "tune"),
        ("llmlabel export", "export"),
        ("llmlabel serve-check", "serve-check"),
    ]:
        if command.startswith(prefix):
            return name
    if command.startswith(("llmlabel review", "llmlabel merge")):
        return "ner-review" if "examples/ner/" in command else "review"
    if command.startswith(("llmlabel audit", "llmlabel distill")):
        return "audit-distill"
    if "examples/images/" in command and "--dry-run" not in command:
        return "images"
    if "--backend transformers" in command:
        return "transformers"
    if "smollm2" in command or "--dry-run" in command or command.startswith("llmlabel models list"):
        return "small-model"
    return None


def commands_for(name: str) -> list[str]:
    return [c for c in llmlabel_commands() if runner(c) == name]


def install_lines() -> set[str]:
    """The README's first block: run by .ci/run and the slow test in test_readme.py."""
    first = next(b for b in blocks(README) if b.lang == "bash")
    return {line.strip() for line in first.code.splitlines()}


def run(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    args = shlex.split(command)
    assert args[0] == "llmlabel"
    return subprocess.run(
        [sys.executable, "-m", "llmlabel", *args[1:]],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=1800,
        env={**os.environ, "COLUMNS": "120"},
    )


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    for name in ("examples", "schemas", "prompts"):
        (tmp_path / name).symlink_to(ROOT / name)
    return tmp_path


# The site: nav, links, blocks.


def test_every_docs_page_is_in_the_nav_and_every_nav_page_exists() -> None:
    listed = nav_pages()
    assert len(listed) == len(set(listed)), "a page is listed twice"
    on_disk = {str(p.relative_to(DOCS)) for p in DOCS.rglob("*.md")}
    assert on_disk - set(listed) == set(), "pages missing from mkdocs.yml's nav"
    assert set(listed) - on_disk == set(), "nav entries without a page"


def slug(heading: str) -> str:
    """The anchor of a heading, as GitHub and MkDocs' toc make it for these headings."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"\s", "-", re.sub(r"[^\w\- ]", "", text))


def anchors(path: Path) -> set[str]:
    text = path.read_text()
    inside = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    return {slug(m.group(1)) for m in re.finditer(r"^#{1,6} (.+)$", inside, re.MULTILINE)}


def links(path: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.DOTALL)
    text = re.sub(r"`[^`\n]*`", "", text)
    return re.findall(r"\]\(([^)\s]+)\)", text)


@pytest.mark.parametrize("path", documents(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_resolves(path: Path) -> None:
    broken = []
    for target in links(path):
        if re.match(r"[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        resolved = (path.parent / file).resolve() if file else path
        if not resolved.exists():
            broken.append(target)
            continue
        if anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
            broken.append(target)
    assert broken == [], f"{path.relative_to(ROOT)}: {broken}"


def test_every_block_runs_or_says_why() -> None:
    """A block the tests do not run is marked with the reason, so none is skipped by accident."""
    problems = []
    tiny_lm = "python eval/bench/tiny_lm.py tiny-lm"
    for b in ALL_BLOCKS:
        if b.lang not in RUN_LANGS | DATA_LANGS:
            problems.append(f"{b}: unknown fence language {b.lang!r}")
        if b.not_run is not None or b.lang not in RUN_LANGS or b.lang == "python":
            continue
        if b.lang != "bash":
            problems.append(f"{b}: a ```{b.lang} block is never run; use ```bash or mark it")
            continue
        for line in b.code.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            command = line.split("#")[0].strip()
            if command.startswith("llmlabel "):
                if runner(command) is None:
                    problems.append(f"{b}: no test runs `{command}`")
            elif line not in install_lines() and not command.startswith(tiny_lm):
                problems.append(f"{b}: no test runs `{line}`")
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("block", [b for b in ALL_BLOCKS if b.lang in ("json", "yaml")], ids=str)
def test_data_blocks_parse(block: Block) -> None:
    if block.lang == "json":
        json.loads(block.code)
    else:
        yaml.safe_load(block.code)


def test_the_readme_is_a_landing_page() -> None:
    assert len(README.read_text().splitlines()) <= 200


# The commands, by the test that runs them.


@pytest.mark.parametrize("command", commands_for("small-model"))
def test_commands_on_the_small_model(command: str, workdir: Path, smollm2_path: Path) -> None:
    result = run(command, workdir)
    assert result.returncode == 0, result.stderr


def test_calibrate_commands_in_order(workdir: Path, smollm2_path: Path) -> None:
    """`llmlabel calibrate` on the sample, then the commands that use its calib.json."""
    commands = commands_for("calibrate")
    assert commands[0].startswith("llmlabel calibrate") and len(commands) >= 2
    for command in commands:
        result = run(command, workdir)
        assert result.returncode == 0, result.stderr
    assert "keep confidence ≥" in run(commands[0], workdir).stdout
    routed = [json.loads(line) for line in (workdir / "routed.jsonl").read_text().splitlines()]
    assert routed and all(r["route"] in ("keep", "review") for r in routed)
    assert all("confidence_raw" in r and "calibration" in r["provenance"] for r in routed)


@pytest.mark.parametrize("command", commands_for("eval"))
def test_eval_commands(command: str, workdir: Path) -> None:
    """`llmlabel eval` needs no model: it runs on the committed sample predictions."""
    result = run(command, workdir)
    assert result.returncode == 0, result.stderr
    assert "accuracy" in result.stdout and "selective prediction" in result.stdout
    args = shlex.split(command)
    if "--price-input" in args:
        assert "cost and time: 40 records" in result.stdout and "at the prices given" in (
            result.stdout
        )
    if "--report" in args:
        report = workdir / args[args.index("--report") + 1]
        assert {p.name for p in report.iterdir()} == {
            "report.md", "report.html", "summary.json", "plots"
        }  # fmt: skip


@pytest.mark.parametrize("command", commands_for("compare"))
def test_compare_commands(command: str, workdir: Path, smollm2_path: Path) -> None:
    """The compare file the docs show runs its variants on SmolLM2."""
    compare_file = shlex.split(command)[2]
    assert "smollm2" in (workdir / compare_file).read_text()
    result = run(command, workdir)
    assert result.returncode == 0, result.stderr
    args = shlex.split(command)
    report = workdir / args[args.index("--report") + 1]
    summary = json.loads((report / "summary.json").read_text())
    assert summary["records"] == int(args[args.index("--limit") + 1])
    assert len(summary["pairs"]) == 1 and summary["pairs"][0]["mcnemar"]["p_adjusted"] is not None
    assert (report / "report.html").read_text().count("data:image/png;base64,") >= 5


@pytest.mark.parametrize("command", commands_for("tune"))
def test_tune_commands(command: str, workdir: Path, smollm2_path: Path) -> None:
    """The tune example searches on SmolLM2 and writes a task file that loads where it lies."""
    result = run(command, workdir)
    assert result.returncode == 0, result.stderr
    assert "held-out (20 records, labeled once)" in result.stdout
    args = shlex.split(command)
    tuned = workdir / args[args.index("-o") + 1]
    assert load(tuned).spec.backend.model == "smollm2-135m"
    assert "## Held-out" in tuned.with_suffix(".tune.md").read_text()


@pytest.mark.parametrize("command", commands_for("export"))
def test_export_commands(command: str, workdir: Path) -> None:
    """`llmlabel export` needs no model: it runs on the committed sample predictions."""
    result = run(command, workdir)
    assert result.returncode == 0, result.stderr
    args = shlex.split(command)
    output = workdir / args[args.index("--output") + 1]
    card = output / "README.md" if output.is_dir() else output.with_suffix(".card.md")
    assert "## Provenance" in card.read_text()


@pytest.mark.parametrize("command", commands_for("review"))
def test_review_commands(command: str, workdir: Path) -> None:
    """`llmlabel review` / `merge` need no model: they run on the committed sample files."""
    result = run(command, workdir)
    assert result.returncode == 0, result.stderr
    args = shlex.split(command)
    output = workdir / args[args.index("--output") + 1]
    if args[1] == "review":
        assert (output / "selection.jsonl").read_text().count("\n") == 8
    else:
        assert "by reviewers" in result.stdout and output.read_text().count('"human"') == 4
        assert (workdir / "pool.jsonl").read_text().count("\n") == 4


def test_ner_review_commands_in_order(workdir: Path) -> None:
    """The NER review block: Label Studio tasks for 3 records, then the real export merged."""
    commands = commands_for("ner-review")
    assert [shlex.split(c)[1] for c in commands] == ["review", "merge"]
    review, merge = (run(c, workdir) for c in commands)
    assert review.returncode == 0, review.stderr
    tasks = json.loads((workdir / "ner-review" / "tasks.json").read_text())
    assert [t["data"]["llmlabel_id"] for t in tasks] == ["n03", "n08", "n01"]
    assert merge.returncode == 0, merge.stderr
    assert "span precision 1.000 · recall 0.833 · F1 0.909" in merge.stdout
    merged = (workdir / "ner-reviewed.jsonl").read_text()
    assert merged.count('"source": "human"') == 2


@pytest.mark.parametrize("command", commands_for("audit-distill"))
def test_audit_and_distill_commands(command: str, workdir: Path) -> None:
    """`llmlabel audit` / `distill` need no model: they run on the committed sample files."""
    result = run(command, workdir)
    assert result.returncode == 0, result.stderr
    args = shlex.split(command)
    if args[1] == "audit":
        flagged = (workdir / args[args.index("-o") + 1]).read_text().splitlines()
        assert [json.loads(line)["id"] for line in flagged] == ["r09", "r16", "r33"]
    else:
        assert (workdir / args[args.index("--report") + 1] / "plots" / "size_curve.png").exists()
        assert (workdir / args[args.index("--save") + 1]).exists()


def test_transformers_block_runs_on_the_tiny_model(workdir: Path) -> None:
    """The offline-engines block: build the tiny random model, then label with it."""
    block = next(b for b in RUN_BLOCKS if "eval/bench/tiny_lm.py" in b.code)
    build, command = (line.split("#")[0].strip() for line in block.code.strip().splitlines())
    assert commands_for("transformers") == [command]
    (workdir / "eval").symlink_to(ROOT / "eval")
    built = subprocess.run(
        [sys.executable, *shlex.split(build)[1:]], cwd=workdir, capture_output=True, text=True
    )
    assert built.returncode == 0, built.stderr
    result = run(command, workdir)
    assert result.returncode == 0, result.stderr
    args = shlex.split(command)
    output = workdir / args[args.index("-o") + 1]
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert len(rows) == 8 and all(sum(r["votes"].values()) == 3 for r in rows)


@pytest.mark.parametrize("command", commands_for("serve-check"))
def test_serve_check_commands(command: str, workdir: Path, embedded_server_url: str) -> None:
    """`llmlabel serve-check`, with the docs' URL pointed at the llama.cpp fixture."""
    args = [embedded_server_url if a.startswith("http") else a for a in shlex.split(command)]
    result = run(shlex.join(args), workdir)
    assert result.returncode == 0, result.stderr
    assert "llmlabel will use: structured_output json_schema" in result.stdout


@pytest.mark.parametrize("command", commands_for("images"))
def test_image_commands(command: str, workdir: Path) -> None:
    """Image records go to a shape-checking vision endpoint on 127.0.0.1 (no real VLM here)."""
    from tests.vision_server import vision_server

    pictures = ROOT / "examples" / "images" / "pictures.jsonl"
    records = [json.loads(line) for line in pictures.read_text().splitlines()]
    gold = {
        r["id"]: r["label"]
        for r in map(json.loads, (pictures.parent / "pictures.gold.jsonl").read_text().splitlines())
    }
    server, check = vision_server({ROOT / r["image"]: gold[r["id"]] for r in records})
    with server:
        result = run(f"{command} --base-url {server.url}", workdir)
    assert result.returncode == 0, result.stderr
    assert check.problems == []
    output = workdir / shlex.split(command)[shlex.split(command).index("-o") + 1]
    rows = [json.loads(line) for line in output.read_text().splitlines()]
    assert {r["id"]: r["label"] for r in rows} == gold


# What a Python block must print, found by a piece of its code.
PYTHON_PRINTS = {
    "llmlabel.label_records(": ["('a', '"],
    "llmlabel.Labeler(": ["labeled", "Broke in a day."],
}


@pytest.mark.parametrize("block", [b for b in RUN_BLOCKS if b.lang == "python"], ids=str)
def test_python_blocks(block: Block, workdir: Path, smollm2_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", block.code], cwd=workdir, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr
    for code, printed in PYTHON_PRINTS.items():
        if code in block.code:
            assert all(text in result.stdout for text in printed), result.stdout


def test_every_python_check_finds_its_block() -> None:
    python = [b.code for b in RUN_BLOCKS if b.lang == "python"]
    assert all(any(code in block for block in python) for code in PYTHON_PRINTS)
