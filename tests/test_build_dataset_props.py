"""Properties of stable splits (hypothesis): new labels never move an answer between
splits, and test never shares an answer (or, split by question, a question) with train."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_build_dataset_helpers import annotation, build_ok, raw_answer, write_jsonl

from asag.build_dataset.splits import resolve
from asag.dataset_layout import load_dataset_dir

ids = st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=60, unique=True)
ratios = st.sampled_from([(0.8, 0.1, 0.1), (0.6, 0.2, 0.2), (0.5, 0.0, 0.5), (1.0, 0.0, 0.0)])
explicit = st.sampled_from([None, None, "train", "test", "test_ua"])


@given(base=ids, extra=ids, seed=st.integers(0, 2**31), r=ratios, data=st.data())
def test_adding_answers_never_moves_an_existing_one(base, extra, seed, r, data):
    extra = [e for e in extra if e not in base]
    given_split = data.draw(st.lists(explicit, min_size=len(base), max_size=len(base)))
    more_split = data.draw(st.lists(explicit, min_size=len(extra), max_size=len(extra)))
    before = resolve(base, given_split, seed, r, 0.1)
    after = resolve(base + extra, given_split + more_split, seed, r, 0.1)
    assert list(after[: len(base)]) == list(before)


@given(pairs=st.lists(st.tuples(st.text(min_size=1, max_size=8), st.integers(0, 15)),
                      min_size=1, max_size=80, unique_by=lambda p: p[0]),
       seed=st.integers(0, 1000), r=ratios)
def test_split_by_question_never_puts_a_question_in_train_and_test(pairs, seed, r):
    questions = [f"q{q}" for _, q in pairs]
    assigned = resolve(questions, [None] * len(pairs), seed, r, 0.0)
    by_question: dict = {}
    for q, s in zip(questions, assigned, strict=True):
        by_question.setdefault(q, set()).add(s)
    assert all(len(s) == 1 for s in by_question.values())


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n_old=st.integers(5, 40), n_new=st.integers(1, 40), seed=st.integers(0, 99),
       by=st.sampled_from(["answer", "question"]))
def test_rebuilding_with_new_labels_keeps_every_answer_in_its_split(n_old, n_new, seed, by):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        out = tmp / "ds"

        def build(n: int, extra_teacher: bool):
            items = write_jsonl(tmp / "raw.jsonl", [raw_answer(i, i % 7) for i in range(n)])
            records = [annotation(f"a{i:04d}", "t1", i % 6) for i in range(n)]
            if extra_teacher:  # a second teacher scores some of the old answers too
                records += [annotation(f"a{i:04d}", "t2", (i + 1) % 6) for i in range(0, n, 3)]
            ann = write_jsonl(tmp / "ann.jsonl", records)
            build_ok(ann, "--items", items, "-o", out, "--seed", seed, "--split-by", by)
            dsd, _ = load_dataset_dir(out)
            return {s: set(d["id"]) for s, d in dsd.items()}, {
                s: set(d["question_id"]) for s, d in dsd.items()}

        before, _ = build(n_old, False)
        after, questions = build(n_old + n_new, True)
        for split, members in before.items():
            assert members <= after[split]
        assert not after.get("train", set()) & after.get("test", set())
        if by == "question":
            assert not questions.get("train", set()) & questions.get("test", set())
