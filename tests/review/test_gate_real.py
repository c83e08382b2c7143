"""The gate's real-post section: the figures side by side, or why there are none."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.real_posts import Parse, RealPost, score
from bot.review.gate_real import RealFigures, real_figures, real_markdown


def _post(intent: str) -> RealPost:
    return RealPost("1", "tune", "text", intent, (), "negative", "")


def test_both_models_figures_side_by_side() -> None:
    posts = [_post("complaint"), _post("baggage_issue")]
    current = score(posts, [Parse((("complaint", 0.9),), False, None)] * 2)
    candidate = score(
        posts,
        [Parse((("complaint", 0.9),), False, None), Parse((("baggage_issue", 0.8),), False, None)],
    )
    section = real_markdown(RealFigures(current, candidate))
    assert "| strict accuracy | 0.500 | 1.000 | +0.500 |" in section
    assert "2 posts (tests/nlu/real_posts.tsv, part tune)" in section


def test_without_the_tweet_file_the_section_says_what_to_get(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("REAL_TWEETS", str(tmp_path / "absent.tsv"))
    figures = real_figures(tmp_path / "no-model.tar.gz", tmp_path / "no-candidate.tar.gz")
    assert isinstance(figures, str) and "absent.tsv is missing" in figures
    assert real_markdown(figures).splitlines()[2].startswith("Skipped: ")
