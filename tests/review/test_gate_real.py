"""The gate's real-post section: the figures side by side, or why there are none."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.real_posts import Parse, RealPost, score
from bot.review.gate import compare, report_html, report_markdown
from bot.review.gate_real import RealFigures, real_figures, real_markdown
from tests.review.test_gate import _evaluation


def _post(intent: str) -> RealPost:
    return RealPost("1", "tune", "text", intent, (), "negative", "")


def _figures() -> RealFigures:
    """The current model right on one post of two, the candidate on both."""
    posts = [_post("complaint"), _post("baggage_issue")]
    current = score(posts, [Parse((("complaint", 0.9),), False, None)] * 2)
    candidate = score(
        posts,
        [Parse((("complaint", 0.9),), False, None), Parse((("baggage_issue", 0.8),), False, None)],
    )
    return RealFigures(current, candidate)


def test_both_models_figures_side_by_side() -> None:
    section = real_markdown(_figures())
    assert "| strict accuracy | 0.500 | 1.000 | +0.500 |" in section
    assert "2 posts (tests/nlu/real_posts.tsv, part tune)" in section


def test_without_the_tweet_file_the_section_says_what_to_get(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("REAL_TWEETS", str(tmp_path / "absent.tsv"))
    figures = real_figures(tmp_path / "no-model.tar.gz", tmp_path / "no-candidate.tar.gz")
    assert isinstance(figures, str) and "absent.tsv is missing" in figures
    assert real_markdown(figures).splitlines()[2].startswith("Skipped: ")


@pytest.mark.parametrize("real", [None, "no tweet file here"], ids=["no section", "skipped"])
def test_the_report_has_the_section_in_both_formats_or_none(real: str | None) -> None:
    comparison = compare(_evaluation(a=0.8, b=0.9), _evaluation(a=0.9, b=0.9))
    markdown = report_markdown(comparison, Path("test_nlu.yml"), 60, real)
    page = report_html(comparison, Path("test_nlu.yml"), 60, real)
    assert markdown.count("## Real posts") == page.count("<h2>Real posts") == (real is not None)
    assert ("Skipped: no tweet file here" in markdown) == ("Skipped: no tweet file here" in page)
    assert page.rstrip().endswith("</body></html>")


def test_the_report_is_written_from_the_figures_in_both_formats() -> None:
    comparison = compare(_evaluation(a=0.8, b=0.9), _evaluation(a=0.9, b=0.9))
    markdown = report_markdown(comparison, Path("test_nlu.yml"), 60, _figures())
    page = report_html(comparison, Path("test_nlu.yml"), 60, _figures())
    headline = "Verdict: better (exit code 0)."
    assert f"**{headline}** Macro-F1 0.850 → 0.900 (+0.050)" in markdown
    assert f"<strong>{headline}</strong> Macro-F1 0.850 → 0.900 (+0.050)" in page
    assert "**" not in page
    # The real posts' figures: a table in each format, after the verdict's own.
    assert markdown.index("| a | 0.80 | 0.90 |") < markdown.index("| strict accuracy | 0.500")
    assert "<tr><td>strict accuracy</td><td>0.500</td><td>1.000</td><td>+0.500</td></tr>" in page
    assert "<pre>" not in page and "| strict accuracy" not in page
    assert page.index("<h2>Real posts") < page.index("</body>")
