"""Answer groups: near-identical answers of one question, scored once.

Two answers of the same question join when their texts are the same after normalisation
(Unicode NFC, case, punctuation, whitespace) or when their character 3-gram sets (within
words, on the normalised text) overlap by at least `threshold` (Jaccard). Character n-grams
need no language model and no word lists, so they treat every language alike and cost a
sparse matrix product per question.

Grouping is leader clustering in file order: an answer joins the group of the earliest
representative it is close enough to, else it starts a group of its own and represents it.
A member is thus within the threshold of its representative (not merely of some chain of
members), and the same file always gives the same groups. The default threshold was chosen
with benchmarks/bench_groups.py (BENCHMARKS.md, "Answer groups")."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# character 3-gram Jaccard at or above which two answers of a question form a group; 1.0
# joins only answers that are identical after normalisation (BENCHMARKS.md, "Answer groups")
DEFAULT_THRESHOLD = 0.9
NGRAM = 3
_SPACE = re.compile(r"\s+")
_NUMBER = re.compile(r"\d+")


def normalise(text: str) -> str:
    """The text as grouping compares it: NFC, case-folded, punctuation and symbols dropped
    (except between two digits: '2.5' is not '25'), whitespace collapsed ("It's  HOT!" and
    "its hot" are the same answer)."""
    text = unicodedata.normalize("NFC", text or "").casefold()
    kept = [c for i, c in enumerate(text)
            if unicodedata.category(c)[0] not in "PS"
            or (0 < i < len(text) - 1 and text[i - 1].isdigit() and text[i + 1].isdigit())]
    return _SPACE.sub(" ", "".join(kept)).strip()


@dataclass
class Group:
    """One question's answers scored as one: the representative (shown to the teacher) first."""

    members: list[dict]

    @property
    def representative(self) -> dict:
        return self.members[0]

    @property
    def id(self) -> str:
        """Stable: the representative's answer id."""
        return self.members[0]["id"]

    @property
    def others(self) -> list[dict]:
        return self.members[1:]


def _grams(texts: Sequence[str]):
    """(sparse binary matrix of character 3-grams within words, n-gram count per text)."""
    import numpy as np
    from sklearn.feature_extraction.text import CountVectorizer

    vectoriser = CountVectorizer(analyzer="char_wb", ngram_range=(NGRAM, NGRAM), binary=True,
                                 lowercase=False, dtype=np.float32)
    try:
        grams = vectoriser.fit_transform(texts).tocsr()
    except ValueError:  # not one n-gram in any text (all empty after normalisation)
        return None, np.zeros(len(texts))
    return grams, np.asarray(grams.sum(axis=1)).ravel()


def _close(a: str, b: str, threshold: float) -> bool:
    """The order-aware check behind the n-gram one: the same numbers in the same order (a
    different number is a different answer: '/8' and '/16', '3 days' and '4 days') and a
    difflib similarity ratio of at least `threshold` (n-gram sets ignore word order)."""
    import difflib

    if _NUMBER.findall(a) != _NUMBER.findall(b):
        return False
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio() >= threshold


def group_question(records: Sequence[dict], threshold: float = DEFAULT_THRESHOLD,
                   chunk: int = 512) -> list[Group]:
    """The answers of one question in groups (leader clustering, file order kept). Memory
    stays at `chunk` x answers similarities whatever the question's size."""
    import numpy as np

    norm = [normalise(r["student_answer"]) for r in records]
    grams, sizes = _grams(norm)
    first_of: dict[str, int] = {}  # normalised text -> its first group (exact matches)
    leaders: list[int] = []  # answer index of each group's representative
    groups: list[Group] = []
    for start in range(0, len(records), chunk):
        stop = min(start + chunk, len(records))
        if grams is not None and threshold < 1:
            inter = (grams[start:stop] @ grams[:stop].T).toarray()
        for i in range(start, stop):
            best = first_of.get(norm[i])
            if best is None and leaders and grams is not None and threshold < 1:
                cols = np.asarray(leaders)
                shared = inter[i - start, cols]
                union = sizes[i] + sizes[cols] - shared
                jaccard = np.divide(shared, union, out=np.zeros_like(shared), where=union > 0)
                for g in np.flatnonzero(jaccard >= threshold)[np.argsort(-jaccard[
                        jaccard >= threshold], kind="stable")]:
                    if _close(norm[i], norm[leaders[g]], threshold):
                        best = int(g)
                        break
            if best is None:
                best = len(groups)
                leaders.append(i)
                groups.append(Group([]))
            groups[best].members.append(records[i])
            first_of.setdefault(norm[i], best)
    return groups


def group_answers(records: Iterable[dict], threshold: float = DEFAULT_THRESHOLD) -> list[Group]:
    """Every answer in exactly one group (most of size one), grouped per question only, in
    the order of each group's representative in the input."""
    by_question: dict[str, list[dict]] = {}
    order: dict[str, int] = {}
    for position, record in enumerate(records):
        by_question.setdefault(record["question_id"], []).append(record)
        order[record["id"]] = position
    groups = [g for rows in by_question.values() for g in group_question(rows, threshold)]
    return sorted(groups, key=lambda g: order[g.id])
