"""Groups messages that say nearly the same thing, so a trainer decides on them once.

Similarity is the overlap (Jaccard) of character trigrams of the normalised
text: it survives typos, added handles and emoji, and word order changes
little, while unrelated messages share few trigrams. Groups are the connected
components of the "similar enough" graph.
"""

from __future__ import annotations

from bot.review.nludata import normalise

#: Two messages are near-duplicates at this trigram overlap or more. Measured
#: on the inbox tests' examples: rewordings of one message land at 0.5-0.9,
#: different requests about the same topic under 0.3.
SIMILAR = 0.5


def trigrams(text: str) -> frozenset[str]:
    """Character trigrams of the normalised text (padded, so short words count)."""
    padded = f"  {normalise(text)} "
    return frozenset(padded[i : i + 3] for i in range(len(padded) - 2))


def similarity(a: frozenset[str], b: frozenset[str]) -> float:
    """Jaccard overlap of two trigram sets."""
    if not a or not b:
        return 0.0
    return len(a & b) / len(a | b)


def group_near_duplicates(texts: list[str], threshold: float = SIMILAR) -> list[list[int]]:
    """Indexes of ``texts`` in groups of near-duplicates, each group in input order."""
    shingles = [trigrams(t) for t in texts]
    parent = list(range(len(texts)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    # Quadratic, which is fine for an inbox a person reads (hundreds of items).
    for i in range(len(texts)):
        for j in range(i + 1, len(texts)):
            if similarity(shingles[i], shingles[j]) >= threshold:
                parent[root(j)] = root(i)
    groups: dict[int, list[int]] = {}
    for i in range(len(texts)):
        groups.setdefault(root(i), []).append(i)
    return list(groups.values())
