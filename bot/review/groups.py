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


def group_near_duplicates(
    texts: list[str], threshold: float = SIMILAR, block: int = 1000
) -> list[list[int]]:
    """Indexes of ``texts`` in groups of near-duplicates, each group in input order.

    The trigram overlaps are computed as sparse matrix products a block of rows
    at a time (scikit-learn's vectoriser, SciPy): every pair is compared, as a
    loop over pairs would, but 10,000 items take seconds, not minutes.
    """
    import numpy as np
    from scipy.sparse.csgraph import connected_components
    from sklearn.feature_extraction.text import CountVectorizer

    if not texts:
        return []
    shingles = [trigrams(t) for t in texts]
    present = CountVectorizer(analyzer=lambda i: shingles[i], binary=True)
    matrix = present.fit_transform(range(len(texts))).astype(np.float32).tocsr()
    sizes = np.asarray(matrix.sum(axis=1)).ravel()
    rows, columns = [], []
    for start in range(0, len(texts), block):
        shared = (matrix[start : start + block] @ matrix.T).toarray()
        union = sizes[start : start + block, None] + sizes[None, :] - shared
        overlap = np.divide(shared, union, out=np.zeros_like(shared), where=union > 0)
        found = np.argwhere(overlap >= threshold)
        rows.append(found[:, 0] + start)
        columns.append(found[:, 1])
    from scipy.sparse import coo_matrix

    edges = coo_matrix(
        (np.ones(sum(len(r) for r in rows)), (np.concatenate(rows), np.concatenate(columns))),
        shape=(len(texts), len(texts)),
    )
    _, labels = connected_components(edges, directed=False)
    groups: dict[int, list[int]] = {}
    for index, label in enumerate(labels):
        groups.setdefault(int(label), []).append(index)
    return list(groups.values())
