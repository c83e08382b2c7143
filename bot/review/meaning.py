"""Groups imported posts by meaning and puts them in the order that teaches the model most.

Vectors are the sentence encoder's (unit length, so a dot product is the
cosine). Posts are split into blocks of about :data:`BLOCK` by k-means
(scikit-learn) so that the pairwise similarities stay cheap at 100,000 posts;
within a block, the post with the most neighbours (counting its exact
duplicates) becomes a group's centre and takes its unassigned neighbours, and
so on: the centres of large groups are the posts most like many others.

In a group, a member is an **outlier** (set apart from the group's action)
when it is further from the centre than ``core`` or the model reads it as
another intent; a **near-duplicate** (decided with the centre, never shown or
written on its own) when it is as close as ``near_duplicate``.

The order: groups by the centre's margin (first intent's confidence minus the
runner-up's; a low margin is what the model is unsure about) divided by the
log of the group's size (a large group teaches more), lowest first.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from bot.review.suggest import Thresholds

BLOCK = 2000


@dataclass(frozen=True)
class Placement:
    """Where one post landed: indexes into the input."""

    centre: int
    size: int  # posts in its group, exact duplicates counted
    outlier: bool
    near_duplicate_of: int | None
    priority: float  # lower is reviewed first


def priority(centre_margin: float, size: int) -> float:
    """A group's place in the review order, lowest first: the model's doubt about its
    centre, large groups before small ones."""
    return centre_margin / math.log2(1 + max(size, 1))


def blocks(vectors: np.ndarray, size: int = BLOCK) -> list[np.ndarray]:
    """Index arrays of about ``size`` posts that are near one another."""
    n = len(vectors)
    if n <= 2 * size:
        return [np.arange(n)]
    from sklearn.cluster import MiniBatchKMeans

    k = math.ceil(n / size)
    labels = MiniBatchKMeans(
        n_clusters=k, random_state=0, n_init=1, batch_size=4096, init="random"
    ).fit_predict(vectors)
    return [np.flatnonzero(labels == label) for label in range(k) if (labels == label).any()]


def group_posts(
    vectors: np.ndarray,
    margins: np.ndarray,
    intents: list[str | None],
    copies: list[int],
    thresholds: Thresholds,
    progress: bool = False,
    label: str = "group",
) -> list[Placement]:
    """A placement for each post (row of ``vectors``); ``label`` names the progress bar."""
    placed: list[Placement | None] = [None] * len(vectors)
    weight = np.asarray(copies, dtype=np.float32)
    parts = blocks(vectors)
    for part in tqdm(parts, desc=label, unit="block", disable=not progress):
        similar = vectors[part] @ vectors[part].T
        near = similar >= thresholds.member
        degree = near.astype(np.float32) @ weight[part]
        free = np.ones(len(part), dtype=bool)
        for local in np.argsort(-degree, kind="stable"):
            if not free[local]:
                continue
            members = np.flatnonzero(free & near[local])
            free[members] = False
            centre = int(part[local])
            size = int(weight[part[members]].sum())
            first = priority(float(margins[centre]), size)
            for m in members:
                index = int(part[m])
                closeness = float(similar[local, m])
                other = intents[index] != intents[centre] and intents[centre] is not None
                outlier = index != centre and (closeness < thresholds.core or other)
                duplicate = (
                    index != centre and not outlier and closeness >= thresholds.near_duplicate
                )
                placed[index] = Placement(
                    centre, size, outlier, centre if duplicate else None, first
                )
    return [p for p in placed if p is not None]
