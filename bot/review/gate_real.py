"""The gate's second yardstick: the labelled real posts, when they are here.

The gate's verdict stays on the held-out test set (our own writing, in the
repository). When ``../shared/real_tweets`` is beside the repository, the
gate also scores the current model and the candidate on the **tune** part of
the labelled real posts (tests/nlu/real_posts.tsv, bot/real_posts.py) and puts
both in the report: a data change can help our test set and not real
customers, or the other way round. Not the held-out part: a figure shown at
every data change is one that changes get chosen on, and the held-out part
stays for `make evaluate`'s honest figure (docs/nlu.md). Without the tweet
file the section says so and what to get.
"""

from __future__ import annotations

import gc
import html
from dataclasses import dataclass
from pathlib import Path

from bot.brand import load_brand
from bot.real_posts import RealTweetsMissing, Scores, score
from bot.real_posts import load as load_real_posts

PART = "tune"


@dataclass(frozen=True)
class RealFigures:
    """Both models on the tune part of the real posts."""

    current: Scores
    candidate: Scores


def real_scores(model: Path) -> Scores:
    """One model's scores on the tune part of the real posts (the model loaded in-process)."""
    from bot.evaluation import load_agent
    from bot.real_posts_report import parse_real_posts

    posts = load_real_posts((PART,))
    agent = load_agent(model)
    parses = parse_real_posts(agent, posts)
    del agent
    gc.collect()  # a loaded model takes ~2 GB; the second is loaded next
    return score(posts, parses, load_brand().unsure_in_public)


def real_figures(current: Path, candidate: Path) -> RealFigures | str:
    """The figures, or why there are none (no tweet file)."""
    try:
        return RealFigures(real_scores(current), real_scores(candidate))
    except RealTweetsMissing as missing:
        return str(missing)


#: The figures shown, each with the :class:`Scores` field it reads.
FIGURES = (
    ("strict accuracy", "strict_accuracy"),
    ("top intent right", "top_accuracy"),
    ("macro-F1", "macro_f1"),
    ("right outcome", "right_outcome"),
    ("fallback rate", "fallback_rate"),
)
TITLE = "Real posts (the tune part of the labelled tweets; not part of the verdict)"


@dataclass(frozen=True)
class RealSection:
    """The report's section on real posts, as data; Markdown and HTML are written from it."""

    note: str  # how many posts and where from, or why there are none
    rows: list[tuple[str, float, float]]  # (figure, current, candidate); none when skipped


def real_section(figures: RealFigures | str) -> RealSection:
    """The section for ``figures``, or saying why there are none."""
    if isinstance(figures, str):
        return RealSection(f"Skipped: {figures}", [])
    return RealSection(
        f"{figures.current.posts} posts (tests/nlu/real_posts.tsv, part {PART}).",
        [
            (name, getattr(figures.current, field), getattr(figures.candidate, field))
            for name, field in FIGURES
        ],
    )


def real_markdown(figures: RealFigures | str) -> str:
    """The report's section on real posts in Markdown."""
    section = real_section(figures)
    lines = [f"## {TITLE}", "", section.note, ""]
    if section.rows:
        lines += ["| figure | current | candidate | change |", "|---|---|---|---|"]
        lines += [f"| {name} | {a:.3f} | {b:.3f} | {b - a:+.3f} |" for name, a, b in section.rows]
        lines.append("")
    return "\n".join(lines)


def real_html(figures: RealFigures | str) -> str:
    """The same section as HTML."""
    section = real_section(figures)
    parts = [f"<h2>{html.escape(TITLE)}</h2>", f"<p>{html.escape(section.note)}</p>"]
    if section.rows:
        rows = "".join(
            f"<tr><td>{html.escape(name)}</td><td>{a:.3f}</td><td>{b:.3f}</td>"
            f"<td>{b - a:+.3f}</td></tr>"
            for name, a, b in section.rows
        )
        parts.append(
            "<table><tr><th>figure</th><th>current</th><th>candidate</th><th>change</th></tr>"
            f"{rows}</table>"
        )
    return "\n".join(parts)
