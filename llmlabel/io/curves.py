"""Learning-curve plots for ``llmlabel distill`` (PNG bytes; matplotlib, lazily, as ``plots``)."""

from __future__ import annotations

from collections.abc import Sequence

from llmlabel.io.plots import _figure, _png, _zoom


def size_curve(
    sizes: Sequence[int],
    accuracy: Sequence[float],
    low: Sequence[float],
    high: Sequence[float],
    teacher: float | None = None,
) -> bytes:
    """Student gold accuracy against silver records trained on (log x), with the spread over
    the repeated draws as a band, and the teacher's accuracy on the same gold if known."""
    fig, ax = _figure(6.0, 4.2)
    ax.plot(sizes, accuracy, marker="o", linewidth=1.5, label="student")
    ax.fill_between(sizes, low, high, alpha=0.2, label="min–max over draws")
    if teacher is not None:
        ax.axhline(teacher, linestyle=":", color="grey", linewidth=1, label="teacher (silver)")
    if len(sizes) > 1:
        ax.set_xscale("log")
    ax.set_ylim(*_zoom([*low, *high, *([teacher] if teacher is not None else [])]))
    ax.set_xlabel("silver records trained on")
    ax.set_ylabel("gold accuracy")
    ax.grid(alpha=0.3)
    ax.set_title("Student accuracy vs silver set size")
    ax.legend(loc="lower right", fontsize=8)
    return _png(fig)


def threshold_curve(
    thresholds: Sequence[float],
    filtered: Sequence[float],
    random_same_size: Sequence[float],
    kept: Sequence[int],
) -> bytes:
    """Student gold accuracy against the confidence threshold of its silver set, beside a
    student on a random subset of the same size (quality, not quantity), with the records
    kept on a second axis."""
    fig, ax = _figure(6.4, 4.2)
    ax.plot(thresholds, filtered, marker="o", linewidth=1.5, label="silver ≥ threshold")
    ax.plot(
        thresholds,
        random_same_size,
        marker="s",
        linestyle="--",
        linewidth=1.2,
        label="random silver, same size",
    )
    ax.set_ylim(*_zoom([*filtered, *random_same_size]))
    ax.set_xlabel("confidence threshold")
    ax.set_ylabel("gold accuracy")
    ax.grid(alpha=0.3)
    counts = ax.twinx()
    counts.bar(thresholds, kept, width=0.02, alpha=0.25, color="grey")
    counts.set_ylabel("silver records kept")
    ax.set_zorder(counts.get_zorder() + 1)
    ax.patch.set_visible(False)
    ax.set_title("Student accuracy vs confidence threshold")
    ax.legend(loc="lower left", fontsize=8)
    return _png(fig)
