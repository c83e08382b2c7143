"""The real-post evaluation's run and report: the model's parse of each labelled post,
the figures per part, the kinds of posts, the threshold sweeps and the confusion picture
(``make evaluate``; the labels, the scoring and the kinds are in :mod:`bot.real_posts`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bot.brand import PROJECT_ROOT, load_brand
from bot.contract import INTENT_ALSO, INTENT_ALSO_RANKING
from bot.evaluation import (
    RESULTS_DIR,
    Prediction,
    ThresholdRow,
    fallback_config,
    group_confidence,
    parse_texts,
    second_intent_threshold,
    shipped_threshold,
    threshold_table,
)
from bot.real_posts import (
    FALLBACK,
    LABELS,
    PARTS,
    TUNE_PARTS,
    Parse,
    RealPost,
    RealTweetsMissing,
    Scores,
    by_kind,
    load,
    score,
)


def second_intent_sweep(
    posts: Sequence[RealPost], parses: Sequence[Parse], intent: str, thresholds: Sequence[float]
) -> list[tuple[float, int, float]]:
    """For each threshold of ``intent`` as a second intent: how many posts it would be named
    for, and the share of those whose labels do not accept it (the post's own intent aside)."""
    rows = []
    for threshold in thresholds:
        named = wrong = 0
        for post, parse in zip(posts, parses, strict=True):
            likely = dict(parse.also_ranking).get(intent, 0.0)
            if parse.top != intent and likely >= threshold:
                named += 1
                wrong += intent not in post.accepted
        rows.append((threshold, named, wrong / named if named else 0.0))
    return rows


def second_intent_table(
    posts: Sequence[RealPost], parses: Sequence[Parse], intent: str, shipped: float
) -> list[str]:
    """Markdown lines: :func:`second_intent_sweep` over thresholds 0.20-0.50."""
    sweep = second_intent_sweep(posts, parses, intent, [0.2, 0.25, 0.3, 0.35, 0.4, 0.5])
    lines = [
        f"## {posts[0].part if posts else ''}: `{intent}` as a second intent "
        f"(shipped threshold {shipped:.2f})",
        "",
        f"| threshold | posts it is named for | of them, `{intent}` not accepted |",
        "|---|---|---|",
    ]
    return lines + [f"| {t:.2f} | {n} | {wrong:.1%} |" for t, n, wrong in sweep]


def threshold_predictions(
    posts: Sequence[RealPost], parses: Sequence[Parse], groups: Sequence[Sequence[str]]
) -> list[Prediction]:
    """The posts as the test set's threshold table reads its messages (the fallback's own
    decision set aside; intents in one group add up): a prediction that is one of a
    post's accepted intents is right."""
    found = []
    for post, parse in zip(posts, parses, strict=True):
        top = parse.top
        confidence = group_confidence(parse.ranking, top, groups)
        label = top if top in post.accepted else post.intent
        found.append(Prediction(post.text, label, top, confidence))
    return found


def report(scores: dict[str, Scores], command: str) -> str:
    """Markdown: the headline figures per part, then per-intent scores and confusions."""
    lines = [
        "# Real posts: labelled airline tweets",
        "",
        f"Labels: `{LABELS.relative_to(PROJECT_ROOT)}` joined with ../shared/real_tweets. "
        f"Command: `{command}`.",
        "",
        "| part | posts | strict accuracy | top intent right | macro-F1 | fallback | "
        "right outcome | second intent found | second intent wrong |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for part, s in scores.items():
        lines.append(
            f"| {part} | {s.posts} | {s.strict_accuracy:.1%} | {s.top_accuracy:.1%} | "
            f"{s.macro_f1:.3f} | {s.fallback_rate:.1%} | {s.right_outcome:.1%} | "
            f"{s.second_found:.1%} | {s.second_wrong:.1%} |"
        )
    for part, s in scores.items():
        lines += [
            "",
            f"## {part}: per intent",
            "",
            "| intent | precision | recall | F1 | posts |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {intent} | {p:.2f} | {r:.2f} | {f:.2f} | {n} |"
            for intent, (p, r, f, n) in s.per_intent.items()
        ]
        lines += ["", f"## {part}: what the bot did with posts it got wrong", ""]
        lines += ["| labelled | bot acted on | posts |", "|---|---|---|"]
        lines += [f"| {a} | {b} | {c} |" for a, b, c in s.confusions[:25]]
    return "\n".join(lines) + "\n"


def parse_real_posts(agent: Any, posts: list[RealPost]) -> list[Parse]:
    """The model's parse of each post: its ranking, and whether the fallback stepped in."""
    found = []
    for parsed in parse_texts(agent, [post.text for post in posts]):
        ranking = tuple(
            (str(r["name"]), float(r["confidence"]))
            for r in parsed.get("intent_ranking") or []
            if r["name"] != FALLBACK
        )
        fell_back = (parsed.get("intent") or {}).get("name") == FALLBACK
        also = (parsed.get(INTENT_ALSO) or {}).get("name")
        likely = tuple(
            (str(r["name"]), float(r["confidence"])) for r in parsed.get(INTENT_ALSO_RANKING) or []
        )
        found.append(Parse(ranking, fell_back, also, likely))
    return found


def evaluate_real_posts(
    agent: Any,
    out: Path = RESULTS_DIR,
    show_errors: bool = False,
    parts: tuple[str, ...] = PARTS,
    labels: Path = LABELS,
) -> dict[str, Scores] | None:
    """Scores the model on the labelled real posts, per part; writes ``real_posts.md`` and
    the held-out part's confusion matrix. None, with a message, without the tweet file."""
    # A skipped evaluation leaves no earlier run's report to be read as this one's.
    (out / "real_posts.md").unlink(missing_ok=True)
    try:
        posts = load(parts, labels)
    except RealTweetsMissing as missing:
        print(f"real posts: skipped: {missing}")
        return None
    # A label file may lack a part (a brand's own labels): score the parts it has.
    asked, parts = parts, tuple(part for part in parts if any(p.part == part for p in posts))
    if not parts:
        print(f"real posts: skipped: {labels} has no labelled posts of {', '.join(asked)}")
        return None
    parses = parse_real_posts(agent, posts)
    unsure = load_brand().unsure_in_public
    groups = list(fallback_config().get("intent_groups") or [])
    scores = {}
    swept: dict[str, list[ThresholdRow]] = {}
    for part in parts:
        pairs = [(p, q) for p, q in zip(posts, parses, strict=True) if p.part == part]
        in_posts, in_parses = [p for p, _ in pairs], [q for _, q in pairs]
        scores[part] = score(in_posts, in_parses, unsure)
        swept[part] = threshold_table(threshold_predictions(in_posts, in_parses, groups), groups)
    out.mkdir(parents=True, exist_ok=True)
    kinds = by_kind(posts, parses)
    lines = ["", "## Kinds of posts (the parts above; found by rules, see bot/real_posts.py)", ""]
    lines += ["| kind | posts | strict accuracy |", "|---|---|---|"]
    lines += [f"| {kind} | {n} | {accuracy:.1%} |" for kind, (n, accuracy) in kinds.items()]
    for part, rows in swept.items():
        lines += ["", f"## {part}: fallback threshold (shipped: {shipped_threshold():.2f})", ""]
        lines += [
            "Utility as for the test set (summary.md); the ambiguity rule left aside.",
            "",
            "| threshold | under it | right answers | wrong answers | utility |",
            "|---|---|---|---|---|",
        ]
        lines += [
            f"| {r.threshold:.2f} | {1 - r.answered:.1%} | "
            f"{r.answered * r.accuracy_answered:.1%} | {r.wrong:.1%} | {r.utility:.3f} |"
            for r in rows
        ]
    # The sweep that chose a threshold reads a tune part only, never the held-out one.
    chosen = next((part for part in TUNE_PARTS if part in parts), None)
    if chosen is not None:
        tuned = [(p, q) for p, q in zip(posts, parses, strict=True) if p.part == chosen]
        complaint = second_intent_threshold("complaint")
        tuned_posts, tuned_parses = [p for p, _ in tuned], [q for _, q in tuned]
        lines += ["", *second_intent_table(tuned_posts, tuned_parses, "complaint", complaint)]
    (out / "real_posts.md").write_text(
        report(scores, "make evaluate")
        + "\n".join(lines)
        + "\n\n![confusion](real_posts_confusion.png)\n",
        encoding="utf-8",
    )
    pictured = [(p, q) for p, q in zip(posts, parses, strict=True) if p.part == parts[0]]
    plot_confusion(pictured, out / "real_posts_confusion.png")
    if show_errors:
        # The tune parts only: the held-out part is never read while tuning.
        for post, parse in zip(posts, parses, strict=True):
            if post.part in TUNE_PARTS and parse.acted_on not in post.accepted:
                ranked = ", ".join(f"{n} {c:.2f}" for n, c in parse.ranking[:3])
                print(f"{post.intent}\t{'/'.join(post.also)}\t[{ranked}]\t{post.text}")
    return scores


def plot_confusion(pairs: list[tuple[RealPost, Parse]], path: Path) -> None:
    """A confusion matrix picture: labelled intent against what the bot acted on (a post
    counts on the diagonal when the bot acted on one of its accepted intents)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay

    truth = [q.acted_on if q.acted_on in p.accepted else p.intent for p, q in pairs]
    said = [q.acted_on for _, q in pairs]
    labels = sorted(set(truth) | set(said))
    figure, axes = plt.subplots(figsize=(11, 10))
    ConfusionMatrixDisplay.from_predictions(
        truth, said, labels=labels, ax=axes, xticks_rotation="vertical", colorbar=False
    )
    axes.set_xlabel("the bot acted on")
    axes.set_ylabel("labelled")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
