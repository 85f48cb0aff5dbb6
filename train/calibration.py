"""A confidence a teacher can act on: calibrated on held-out scored answers, with conformal
prediction sets (label scales) or intervals (numeric scales), and auto-scoring at a target
error rate.

Why held-out and out-of-fold: the stacked heads (train/memory.py) are fitted on the
validation answers, so their outputs there are optimistic. Calibration refits the heads K
times on K-1 folds of validation and keeps each answer's output from the head that did not
see it (cross-fitting); without heads the cross-encoder's outputs on validation are held out
already.

- Label scales: temperature scaling of the head's logits (one parameter, fitted by
  likelihood), then class-conditional (Mondrian) split conformal prediction sets (crepes'
  ConformalClassifier on 1 - p(true label), one threshold per label): each label is covered
  at the nominal level, not only on average. A marginal threshold is set by the common
  labels, so a rare one ("contradictory") was covered 60 % of the time on SciEntsBank
  test_ua and the whole 1-3 points under nominal; per label, the sets grow where the scorer
  is weak instead. A label with under 1/(1-level) held-out answers stays in every set.
- Numeric scales: the confidence is the calibrated probability that the step shown is the
  teachers' score, a logistic fit on features that say how hard the answer is (distance of
  the output to a step, disagreement between the head, the cross-encoder and the nearest
  graded answers, similarity of the nearest one); intervals are split conformal (crepes'
  ConformalRegressor on |score - output|).
- Auto-scoring (`max_error`): the lowest confidence threshold whose auto-scored answers have
  an error rate <= max_error, certified by Learn then Test (Angelopoulos et al. 2021): a
  binomial test per threshold, tested in a fixed sequence from the most confident down
  (starting where a test has the power to reject, `power_start`), so that with probability
  >= 1 - DELTA over the held-out draw the error among auto-scored answers of the same
  course stays at or under the target. On numeric scales an error may be a score more than
  a tolerance from the teachers' (`errors` keeps each held-out answer's distance), and the
  version's prequential checks (train/checks.py) join the held-out answers. A question with
  enough evidence of its own (`fewest_to_reject`: the fewest answers with which a test can
  reject at all, 45 at 5 %) gets its own threshold, tested on its own answers; the others share the
  course's. Why: the course's threshold is set by its hardest questions, and on SAF English
  (about 90 answers a question) per-question thresholds took the teacher's share from 100 %
  to a median 97.3 % (three seeds, auto-scores 0-3.5 % wrong; BENCHMARKS.md). The guarantee
  is then per question: with probability >= 1 - DELTA each question's auto-scores err at
  most max_error.

Everything is stored in the manifest as plain numbers (nothing unpickled)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from asag.scale import Scale

LEVEL = 0.9  # nominal coverage of the sets / intervals
DELTA = 0.1  # Learn then Test: the guarantee holds with probability >= 1 - DELTA
FOLDS = 5  # cross-fitting of the heads on the held-out answers
GRID = 20  # auto-scoring thresholds tried: each 5 % of the held-out answers
MIN_ANSWERS = 20  # fewer held-out answers: no calibration (the scorer says so)
POWER = 0.5  # the first test of the sequence rejects this often at half the error target


@dataclass
class HeldOut:
    """A scorer's outputs on answers it never fitted on, with the teachers' targets."""

    outputs: np.ndarray  # logits rows (labels) or (n, 1) in 0..1 (numeric)
    ce: np.ndarray  # the cross-encoder's own outputs
    seen: np.ndarray | None  # has graded neighbours (None: no memory)
    knn: np.ndarray | None  # the memory's vote features (train/memory.py)
    y: np.ndarray  # class index or 0..1


def out_of_fold(scale: Scale, consultant, memory, rows: list[dict], ce: np.ndarray,
                *, folds: int = FOLDS, seed: int = 0) -> HeldOut:
    """Cross-fitted head outputs on `rows` (held-out answers not in `memory`)."""
    from sklearn.model_selection import KFold

    from asag.train import memory as M
    from asag.train.data import target

    full, base, seen = M.features(scale, ce, rows, consultant.embedder, memory)
    y = np.array([target(scale, r["score"]) for r in rows], dtype=np.float64)
    out = ce.astype(np.float32).copy()
    for fit_idx, out_idx in KFold(min(folds, len(rows)), shuffle=True,
                                  random_state=seed).split(full):
        mask = seen[fit_idx]
        seen_head = M.Head.fit(scale, full[fit_idx][mask], y[fit_idx][mask])
        unseen_head = M.Head.fit(scale, base[fit_idx], y[fit_idx])
        out[out_idx] = M.apply_heads(scale, ce[out_idx], full[out_idx], base[out_idx],
                                     seen[out_idx], seen_head, unseen_head)
    return HeldOut(out, ce, seen, full[:, base.shape[1]:], y)


def softmax(z: np.ndarray) -> np.ndarray:
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature minimising the held-out negative log-likelihood, under a weak
    standard-normal prior on log T: where every held-out answer is right the likelihood alone
    would sharpen without bound (T -> 0, every confidence 1.0); a few hundred answers
    outweigh the prior."""
    from scipy.optimize import minimize_scalar

    idx = y.astype(int)

    def nll(log_t: float) -> float:
        p = softmax(logits / math.exp(log_t))
        fit = -float(np.log(np.clip(p[np.arange(len(idx)), idx], 1e-12, None)).mean())
        return fit + log_t ** 2 / (2 * max(1, len(idx)))

    return round(math.exp(minimize_scalar(nll, bounds=(-4, 4), method="bounded").x), 6)


def difficulty(scale: Scale, outputs: np.ndarray, ce: np.ndarray, seen, knn) -> np.ndarray:
    """Numeric scales: per answer, what says the step shown may be wrong (in steps)."""
    unit = scale.step / (scale.high - scale.low)  # one step on the 0..1 scale
    v = outputs[:, 0].astype(np.float64)
    position = v / unit
    s = np.zeros(len(v)) if seen is None else seen.astype(np.float64)
    knn = np.zeros((len(v), 3)) if knn is None else knn.astype(np.float64)
    return np.column_stack([
        np.abs(position - np.round(position)),  # 0 on a step, 0.5 half-way
        np.abs(v - np.clip(ce[:, 0], 0, 1)) / unit,  # head vs cross-encoder
        s,
        s * np.abs(v - knn[:, 0]) / unit,  # head vs the neighbours' weighted mean
        s * np.abs(v - knn[:, 1]) / unit,  # head vs the nearest graded answer
        s * knn[:, 2],  # how close the nearest graded answer is
    ])


def power_start(max_error: float, delta: float = DELTA, power: float = POWER) -> int:
    """The fewest answers at which the binomial test rejects with probability >= `power`
    when the true error rate is half the target: below that a test mostly fails, and in a
    fixed sequence one failure ends it (57 answers, 1 error: p = 0.21 stopped the sequence
    that 377 held-out answers would have carried to a useful threshold)."""
    from scipy.stats import binom

    need = fewest_to_reject(max_error, delta)
    for n in range(need, 5000):
        k = int(binom.ppf(delta, n, max_error))  # the most errors that can still reject
        while k >= 0 and binom.cdf(k, n, max_error) > delta:
            k -= 1
        if k >= 0 and binom.cdf(k, n, max_error / 2) >= power:
            return n
    return need


def auto_threshold(confidence: np.ndarray, correct: np.ndarray, max_error: float,
                   delta: float = DELTA) -> float:
    """The lowest confidence threshold certified to keep the error among answers at or above
    it <= max_error (Learn then Test, fixed-sequence binomial tests); inf when none is.

    The thresholds tried are the held-out confidences that let in 1/GRID, 2/GRID, ... of the
    answers, from the most confident down. The sequence starts at the first threshold with
    `power_start` answers above it (where a test has the power to reject), or, where no
    threshold has that many, at the first whose test can reject at all (0 errors); both
    are set by the number of answers alone, not by the teachers' scores, so the sequence is
    fixed before the tests and the guarantee holds. It stops at the first threshold whose
    binomial p-value (of at most the errors seen, were the error rate max_error) exceeds
    delta."""
    from scipy.stats import binom

    if not 0 < max_error < 1 or len(confidence) == 0:
        return math.inf
    confidence = np.asarray(confidence, dtype=np.float64)
    c = np.sort(confidence)[::-1]
    wrong = ~np.asarray(correct, dtype=bool)
    cuts = [float(c[max(0, math.ceil(k * len(c) / GRID) - 1)]) for k in range(1, GRID + 1)]
    sizes = [int((confidence >= cut).sum()) for cut in cuts]  # ties: all of equal confidence
    strong = power_start(max_error, delta)
    need = strong if sizes[-1] >= strong else fewest_to_reject(max_error, delta)
    best = math.inf
    for cut, n in zip(cuts, sizes, strict=True):
        if n < need:
            continue
        if binom.cdf(wrong[confidence >= cut].sum(), n, max_error) > delta:
            break
        best = cut
    return best


@dataclass
class Calibration:
    """What the scorer learnt about its own errors on held-out answers."""

    numeric: bool
    scores: np.ndarray  # conformal non-conformity scores of the held-out answers
    confidence: np.ndarray  # their calibrated confidence
    correct: np.ndarray  # whether their score (label / step) was the teachers'
    temperature: float | None = None  # label scales
    correctness: dict | None = None  # numeric: logistic fit of P(step right | difficulty)
    level: float = LEVEL
    fitted_on: dict = field(default_factory=dict)
    score_labels: np.ndarray | None = None  # label scales: each score's true label (Mondrian)
    errors: np.ndarray | None = None  # numeric: |step shown - teachers' score| (tolerance)
    questions: np.ndarray | None = None  # each held-out answer's question id ("" unknown)
    _thresholds: dict = field(default_factory=dict, repr=False)

    # -- fitting -------------------------------------------------------------------------

    @classmethod
    def fit(cls, scale: Scale, held: HeldOut, fitted_on: dict,
            questions: list | None = None) -> Calibration:
        cal = cls._fit(scale, held, fitted_on)
        if questions is not None:
            cal.questions = _question_ids(questions)
        return cal

    @classmethod
    def _fit(cls, scale: Scale, held: HeldOut, fitted_on: dict) -> Calibration:
        if not scale.is_numeric:
            y = held.y.astype(int)
            temperature = fit_temperature(held.outputs, y)
            p = softmax(held.outputs / temperature)
            # held-out order, like confidence / correct (crepes counts, it needs no sorting)
            return cls(False, 1 - p[np.arange(len(y)), y], p.max(axis=1), p.argmax(axis=1) == y,
                       temperature=temperature, score_labels=y,
                       fitted_on={**fitted_on, "method": "out-of-fold temperature scaling; "
                                  "class-conditional split conformal sets (crepes)"})
        values = np.array([scale.from_unit(float(v)) for v in held.outputs[:, 0]])
        truth = np.array([scale.from_unit(float(v)) for v in held.y])
        steps = scale.nearest_step(values)
        correct = np.isclose(steps, truth)
        x = difficulty(scale, held.outputs, held.ce, held.seen, held.knn)
        correctness = _logistic(x, correct)
        cal = cls(True, np.sort(np.abs(truth - values)), np.zeros(len(x)), correct,
                  correctness=correctness, errors=np.abs(steps - truth),
                  fitted_on={**fitted_on, "method": "out-of-fold logistic P(step right | "
                             "difficulty); split conformal intervals (crepes)"})
        cal.confidence = cal._p_correct(x)
        return cal

    # -- use -----------------------------------------------------------------------------

    def _p_correct(self, x: np.ndarray) -> np.ndarray:
        fit = self.correctness
        z = ((x - np.asarray(fit["mean"])) / np.asarray(fit["scale"])) @ np.asarray(fit["coef"])
        return 1 / (1 + np.exp(-(z + fit["intercept"])))

    def probabilities(self, logits: np.ndarray) -> np.ndarray:
        return softmax(np.asarray(logits) / self.temperature)

    def numeric_confidence(self, scale: Scale, outputs, ce, seen, knn) -> np.ndarray:
        return self._p_correct(difficulty(scale, outputs, ce, seen, knn))

    def sets(self, probabilities: np.ndarray, level: float | None = None) -> np.ndarray:
        """(n, classes) 0/1: the conformal prediction set of each answer, never empty (after
        a near-perfect held-out fit the thresholds can exclude every label; the most likely
        one is kept, which only adds coverage). Class-conditional where the held-out
        answers' labels are known (manifests from before them: one marginal threshold)."""
        from crepes import ConformalClassifier

        alphas, level = 1 - np.asarray(probabilities, dtype=np.float64), level or self.level
        cc = ConformalClassifier()
        if self.score_labels is None:
            cc.fit(self.scores)
            sets = cc.predict_set(alphas, confidence=level, smoothing=False)
        else:  # label c is in the set when its score passes label c's own threshold
            cc.fit(self.scores, bins=self.score_labels)
            sets = np.column_stack([
                cc.predict_set(alphas, np.full(len(alphas), c), confidence=level,
                               smoothing=False)[:, c] for c in range(alphas.shape[1])])
        empty = sets.sum(axis=1) == 0
        sets[empty, np.argmax(probabilities[empty], axis=1)] = 1
        return sets

    def intervals(self, scale: Scale, values: np.ndarray, level: float | None = None
                  ) -> np.ndarray:
        """(n, 2) conformal intervals on the scale, narrowed to the steps inside them."""
        from crepes import ConformalRegressor

        cr = ConformalRegressor()
        cr.fit(self.scores)
        raw = cr.predict_int(np.asarray(values, dtype=np.float64), confidence=level or self.level,
                             y_min=scale.low, y_max=scale.high)
        low = scale.at(np.ceil((raw[:, 0] - scale.low) / scale.step - 1e-9))
        high = scale.at(np.floor((raw[:, 1] - scale.low) / scale.step + 1e-9))
        nearest = scale.nearest_step(np.asarray(values, dtype=np.float64))
        empty = low > high  # no step inside: the nearest step (never less coverage)
        low[empty], high[empty] = nearest[empty], nearest[empty]
        return np.column_stack([low, high])

    def correct_within(self, tolerance: float = 0.0) -> np.ndarray:
        """Held-out answers whose shown score is within `tolerance` of the teachers' (scale
        units; 0: exact). Numeric manifests from before tolerances keep only exactness."""
        if not tolerance:
            return self.correct
        if self.errors is None:
            from asag.errors import InputError

            raise InputError("this scorer's calibration predates --tolerance (it kept only "
                             "whether each held-out score was exact)",
                             fix="refit it with 'asag calibrate MODEL DATASET', or leave out "
                             "--tolerance")
        return self.errors <= tolerance + 1e-9

    def threshold(self, max_error: float, tolerance: float = 0.0, checks=None,
                  question=None) -> float:
        """The auto-scoring threshold at `max_error`, an error being a score more than
        `tolerance` from the teachers'; `checks` (train/checks.py: the prequential checks
        that count for this version, each a held-out answer like the validation carve's) are
        pooled with the held-out answers. `question`: that question's own threshold where it
        has `fewest_to_reject` answers of evidence, else the course's."""
        course, own = self._cuts(max_error, tolerance, checks)
        return own.get(_question_id(question), course)

    def own_thresholds(self, max_error: float, tolerance: float = 0.0, checks=None) -> dict:
        """Question id -> its own threshold (the questions with enough evidence)."""
        return dict(self._cuts(max_error, tolerance, checks)[1])

    def _cuts(self, max_error: float, tolerance: float, checks) -> tuple[float, dict]:
        """(the course's threshold, question id -> its own), once per evidence."""
        key = (max_error, tolerance, None if checks is None else checks.digest)
        if key not in self._thresholds:
            confidence, correct, questions = self._evidence(tolerance, checks)
            own, need = {}, fewest_to_reject(max_error)
            for q in np.unique(questions):
                mine = questions == q
                if q and mine.sum() >= need:
                    own[str(q)] = auto_threshold(confidence[mine], correct[mine], max_error)
            self._thresholds[key] = (auto_threshold(confidence, correct, max_error), own)
        return self._thresholds[key]

    def _evidence(self, tolerance: float, checks) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(confidence, correct, question id) of the held-out answers and the checks."""
        confidence, correct = self.confidence, self.correct_within(tolerance)
        questions = (self.questions if self.questions is not None
                     else np.full(len(confidence), "", dtype=object))
        if checks is not None and len(checks):
            confidence = np.concatenate([confidence, checks.confidence])
            correct = np.concatenate([correct, checks.errors <= tolerance + 1e-9])
            questions = np.concatenate([questions, _question_ids(checks.questions)])
        return confidence, correct, questions

    def annotate(self, scale: Scale, predictions: list, outputs: np.ndarray, ce: np.ndarray,
                 seen, knn, *, max_error: float | None = None, tolerance: float = 0.0,
                 checks=None, questions: list | None = None) -> None:
        """Give each Prediction its calibrated confidence, its set or interval and (with
        max_error) whether it is auto-scored (`threshold`, of its question in `questions`)."""
        if not predictions:
            return
        if scale.is_numeric:
            confidence = self.numeric_confidence(scale, outputs, ce, seen, knn)
            bounds = self.intervals(scale, np.array([p.score for p in predictions]))
            for p, c, (lo, hi) in zip(predictions, confidence, bounds, strict=True):
                p.confidence = round(float(c), 6)
                p.interval = [round(float(lo), 6), round(float(hi), 6)]
        else:
            probs = self.probabilities(outputs)
            members = self.sets(probs)
            for p, row, inside in zip(predictions, probs, members, strict=True):
                p.probabilities = {label: round(float(x), 6)
                                   for label, x in zip(scale.labels, row, strict=True)}
                p.confidence = round(float(row.max()), 6)
                p.labels = [label for label, m in zip(scale.labels, inside, strict=True) if m]
        if max_error is not None:
            for p, q in zip(predictions, questions or [None] * len(predictions), strict=True):
                p.auto = p.confidence >= self.threshold(max_error, tolerance, checks, q)

    # -- the manifest --------------------------------------------------------------------

    def to_manifest(self) -> dict:
        out = {"level": self.level, "delta": DELTA, "fitted_on": self.fitted_on,
               "temperature": self.temperature, "correctness": self.correctness,
               "scores": np.round(self.scores, 6).tolist(),
               "score_labels": None if self.score_labels is None else [
                   int(x) for x in self.score_labels],
               "confidence": np.round(self.confidence, 6).tolist(),
               "correct": [int(x) for x in self.correct],
               "errors": None if self.errors is None else np.round(self.errors, 6).tolist(),
               "questions": None if self.questions is None else self.questions.tolist()}
        return {k: v for k, v in out.items() if v is not None}

    @classmethod
    def from_manifest(cls, scale: Scale, data: dict | None) -> Calibration | None:
        """None when the manifest has none, or only says why it was skipped."""
        if not data or "scores" not in data:
            return None
        return cls(scale.is_numeric, np.asarray(data["scores"], dtype=np.float64),
                   np.asarray(data["confidence"], dtype=np.float64),
                   np.asarray(data["correct"], dtype=bool), data.get("temperature"),
                   data.get("correctness"), float(data.get("level", LEVEL)),
                   data.get("fitted_on", {}),
                   None if data.get("score_labels") is None else np.asarray(
                       data["score_labels"], dtype=int),
                   None if data.get("errors") is None else np.asarray(data["errors"],
                                                                      dtype=np.float64),
                   None if data.get("questions") is None else _question_ids(data["questions"]))


def fewest_to_reject(max_error: float, delta: float = DELTA) -> int:
    """The fewest answers with which a binomial test at `max_error` can reject at all (every
    one right): below it a question's own test could never certify anything."""
    return math.ceil(math.log(delta) / math.log(1 - max_error))


def _question_id(question) -> str:
    return "" if question is None else str(question)


def _question_ids(questions) -> np.ndarray:
    return np.array([_question_id(q) for q in questions], dtype=object)


def _logistic(x: np.ndarray, correct: np.ndarray) -> dict:
    """P(correct | x) as plain numbers; a constant (add-one) rate when one outcome only."""
    mean, sd = x.mean(axis=0), x.std(axis=0)
    sd[sd < 1e-6] = 1.0
    if correct.all() or not correct.any():
        rate = (correct.sum() + 1) / (len(correct) + 2)
        return {"mean": mean.tolist(), "scale": sd.tolist(), "coef": [0.0] * x.shape[1],
                "intercept": float(np.log(rate / (1 - rate)))}
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=1.0, max_iter=2000).fit((x - mean) / sd, correct.astype(int))
    return {"mean": np.round(mean, 8).tolist(), "scale": np.round(sd, 8).tolist(),
            "coef": np.round(model.coef_[0], 8).tolist(),
            "intercept": round(float(model.intercept_[0]), 8)}


# -- fitting a scorer -------------------------------------------------------------------------

def calibrate(scorer, rows: list[dict], *, split: str, cross_fit: bool = True,
              batch_size: int = 64, ce: np.ndarray | None = None) -> dict | None:
    """The manifest's "calibration" for a scorer, from held-out answers `rows`.

    cross_fit: the heads were fitted on `rows` (training's validation split), so they are
    refitted out-of-fold, each answer's features leaving the answer itself out of the
    memory. Otherwise (`--update-from`: answers new to the scorer) its own heads are held
    out already. `ce`: the cross-encoder's outputs
    on `rows` when the caller has them (training does). None (with the reason in
    `fitted_on`) when too few answers."""
    from asag.train.data import target

    if len(rows) < MIN_ANSWERS:
        return {"fitted_on": {"answers": len(rows), "split": split,
                              "skipped": f"fewer than {MIN_ANSWERS} held-out answers"}}
    scale = scorer.scale
    if ce is None:
        ce = scorer.cross_encoder_outputs(rows, batch_size=batch_size)
    consultant = scorer.consultant
    has_heads = consultant is not None and (consultant.seen_head or consultant.unseen_head)
    if not has_heads:
        y = np.array([target(scale, r["score"]) for r in rows], dtype=np.float64)
        held, how = HeldOut(ce, ce, None, None, y), "the cross-encoder's outputs"
    elif cross_fit:
        # Each held-out answer consults the whole memory but itself (features() leaves an
        # answer's own id out), as a new answer consults the whole memory: leaving all of
        # `rows` out made them harder than new answers in one way and the sets too small
        # (3-way test_ua coverage 87.2 % -> 88.5 % at 90 %; BENCHMARKS.md).
        held = out_of_fold(scale, consultant, consultant.memory, rows, ce)
        how = f"heads cross-fitted in {FOLDS} folds"
    else:
        out, seen, knn = consultant.consult(ce, rows)
        y = np.array([target(scale, r["score"]) for r in rows], dtype=np.float64)
        held, how = HeldOut(out, ce, seen, knn, y), "the scorer's heads (answers new to it)"
    return Calibration.fit(scale, held, {"answers": len(rows), "split": split,
                                         "outputs": how},
                           [r.get("question_id") for r in rows]).to_manifest()


def recalibrate(model_dir, dataset_dir, *, batch_size: int = 64) -> dict:
    """Fit a scorer directory's calibration anew on its dataset's held-out answers (the
    validation split, or the carve of train that training held out, with the manifest's
    seed) and write it into the manifest (directory.update_calibration: not among the sealed
    files). For scorers trained before calibration existed, or to refit it."""
    from asag.errors import InputError
    from asag.train import data as D
    from asag.train.directory import update_calibration
    from asag.train.scorer import Scorer

    scorer = Scorer.load(model_dir)
    dsd, ds_manifest, scale = D.load_for_training(dataset_dir)
    trained_on = (scorer.manifest.get("dataset") or {}).get("fingerprint")
    if trained_on and ds_manifest.get("fingerprint") != trained_on:
        raise InputError("is not the dataset the scorer was trained on (its fingerprint "
                         "differs), so its held-out answers are unknown", file=str(dataset_dir),
                         fix=f"give the dataset of {model_dir}'s manifest ('dataset.path')")
    if not scale.same_as(scorer.scale):
        raise InputError(f"the scorer scores on '{scorer.scale.spec}', the dataset on "
                         f"'{scale.spec}'", file=str(dataset_dir), fix="give its own dataset")
    _, held_out, source = D.trained_split(dsd, scorer.manifest.get("training_args"))
    data = calibrate(scorer, held_out, split=f"validation ({source})", batch_size=batch_size)
    update_calibration(model_dir, data)
    return data
