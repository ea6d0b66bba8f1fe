"""Report plots are valid PNGs, and report.html embeds them; matplotlib is an optional extra."""

from __future__ import annotations

import base64
import io
import re
import sys
from pathlib import Path

import pytest
from matplotlib.image import imread

from llmlabel.core.evaluation import EvalSummary, Options, Pairing, evaluate
from llmlabel.core.metrics import Outcome
from llmlabel.errors import ConfigError
from llmlabel.io import plots
from llmlabel.io.report import write_report

PNG_IN_HTML = re.compile(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)" alt="([^"]*)"')


def summary() -> EvalSummary:
    outcomes = [
        Outcome(f"r{i}", gold, predicted, confidence, status)
        for i, (gold, predicted, confidence, status) in enumerate(
            [("pos", "pos", 1.0, "labeled")] * 6
            + [("neg", "neg", 0.8, "labeled")] * 4
            + [("neg", "pos", 0.6, "labeled"), ("pos", "neg", 0.8, "labeled")]
            + [("pos", None, 0.0, "abstained"), ("neg", None, 0.0, "failed")]
        )
    ]
    pairing = Pairing(predictions=len(outcomes), gold=len(outcomes), scored=len(outcomes))
    return evaluate(outcomes, pairing, Options(resamples=100))


def assert_png(png: bytes, min_side: int = 200) -> None:
    assert png.startswith(plots.PNG_SIGNATURE)
    width, height = plots.png_size(png)
    assert width >= min_side and height >= min_side / 2
    pixels = imread(io.BytesIO(png))  # decodes the whole image
    assert pixels.shape[:2] == (height, width)
    assert pixels.std() > 0.01  # not a blank canvas


def test_every_eval_figure_is_a_valid_png() -> None:
    figures = plots.eval_figures(summary())
    assert [f.name for f in figures] == ["confusion", "reliability", "coverage", "per_class_f1"]
    for figure in figures:
        assert_png(figure.png)


def test_plots_are_deterministic() -> None:
    s = summary()
    assert plots.eval_figures(s) == plots.eval_figures(s)


def test_leaderboard_plot_with_error_bars() -> None:
    s = summary()
    png = plots.leaderboard([("a", {"accuracy": s.accuracy}), ("b", {"accuracy": s.accuracy})])
    assert_png(png, min_side=150)


def test_eval_report_writes_html_with_the_plots_embedded(tmp_path: Path) -> None:
    report = write_report(summary(), tmp_path / "out", {"predictions": "p.jsonl"})
    folder = report.parent
    assert {p.name for p in folder.iterdir()} == {
        "report.md",
        "report.html",
        "summary.json",
        "plots",
    }
    markdown = report.read_text()
    linked = re.findall(r"\]\((plots/[^)]+\.png)\)", markdown)
    assert len(linked) == 4
    for path in linked:
        assert_png((folder / path).read_bytes())
    html = (folder / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "<table>" in html and "<h2>Per class</h2>" in html
    embedded = PNG_IN_HTML.findall(html)
    assert [alt for _, alt in embedded] == [
        "Confusion matrix", "Reliability diagram", "Coverage and accuracy", "F1 per class"
    ]  # fmt: skip
    for data, _ in embedded:
        assert_png(base64.b64decode(data, validate=True))
    assert 'src="plots/' not in html  # self-contained: nothing to fetch


def test_without_matplotlib_the_report_fails_first_with_an_install_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(ConfigError, match="matplotlib") as caught:
        write_report(summary(), tmp_path / "out", {})
    assert caught.value.hint == 'pip install "llmlabel[report]"'
    assert not (tmp_path / "out").exists()
