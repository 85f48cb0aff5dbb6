"""A trained scorer directory and the Python API another application uses:

    from asag.train import Scorer
    scorer = Scorer.load("models/physics-v3")
    scorer.score("Why is the sky blue?", "Rayleigh scattering ...", "Because of scattering")

The directory is a plain Hugging Face model directory (config, safetensors weights,
tokenizer) plus `asag_scorer.json` (scale, template, max_length, base model, dataset
fingerprint, metrics); train/directory.py owns its layout and writes it. Loading reads
safetensors only: nothing is ever unpickled."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from asag.errors import InputError
from asag.scale import Scale
from asag.train.data import encode
from asag.train.directory import ScorerManifest, read, verify
from asag.train.directory import version as model_version


@dataclass
class Prediction:
    """One scored answer: `score` is the label (label scales) or the value on the scale,
    clipped to it; `step` the nearest scale value (numeric scales); `probabilities` per label
    (label scales). With a calibrated scorer (train/calibration.py): `confidence` is the
    calibrated probability that the label / step shown is the teachers' score, `labels` the
    conformal prediction set (label scales) and `interval` [low, high] (numeric scales), both
    at the manifest's calibration level; `auto` (when a max_error was asked) whether the
    answer may be scored without a teacher. Uncalibrated label scales: `confidence` is the
    top probability; uncalibrated numeric scales have none."""

    score: float | str
    probabilities: dict[str, float] | None = None
    confidence: float | None = None
    step: float | None = None
    index: int | None = field(default=None, repr=False)  # class index / step index
    labels: list[str] | None = None
    interval: list[float] | None = None
    auto: bool | None = None

    def to_dict(self) -> dict:
        out = {"score": self.score}
        if self.step is not None:
            out["step"] = self.step
        if self.probabilities is not None:
            out["probabilities"] = self.probabilities
        if self.confidence is not None:
            out["confidence"] = self.confidence
        if self.labels is not None:
            out["set"] = self.labels
        if self.interval is not None:
            out["interval"] = self.interval
        if self.auto is not None:
            out["auto"] = self.auto
        return out


def configure_quiet_loading() -> None:
    """No hub access, no download bars, no 'newly initialised weights' chatter."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from transformers.utils import logging

    logging.set_verbosity_error()
    logging.disable_progress_bar()


def default_threads() -> int:
    """torch's CPU threads for scoring: half the cores this process may use, at least one.
    torch's own default (every core) collapses when anything else runs on the machine: its
    threads spin waiting for each other (on 2 shared cores, 1 thread scored ~6x faster than 2
    under a competing process; BENCHMARKS.md, "Threads on a shared CPU"); half the cores also
    leaves room for tokenising, the server's event loop and its clients."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, cores // 2)


def set_threads(threads: int | str | None) -> None:
    """torch.set_num_threads(threads); "auto" is default_threads(), None or 0 leaves torch as
    it is (its own default, or what a training process set)."""
    if not threads:
        return
    import torch

    torch.set_num_threads(default_threads() if threads == "auto" else int(threads))


def pick_device(device: str | None = None):
    import torch

    if device:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class Scorer:
    """A loaded scorer: tokenizer, model and manifest, ready to score answers."""

    def __init__(self, model, tokenizer, manifest: ScorerManifest | dict, device=None,
                 consultant=None) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.manifest = manifest
        self.consultant = consultant  # graded answers + similarity heads (train/memory.py)
        self.scale = Scale.parse(self._manifest.scale)
        self.template: str = self._manifest.template
        self.max_length: int = int(self._manifest.max_length)
        self.device = pick_device(device) if not hasattr(device, "type") else device
        self.model.to(self.device).eval()
        self.truncated = 0  # answers scored so far whose input was cut to max_length
        self.path: Path | None = None  # the directory it was loaded from (its checks store)
        self._version: str | None = None
        from asag.train.calibration import Calibration

        self.calibration = Calibration.from_manifest(self.scale, self._manifest.calibration)

    @property
    def manifest(self) -> dict:
        """The manifest as JSON (a copy: change it through `manifest = ...` or
        `use_calibration`)."""
        return self._manifest.to_dict()

    @manifest.setter
    def manifest(self, manifest: ScorerManifest | dict) -> None:
        self._manifest = (manifest if isinstance(manifest, ScorerManifest)
                          else ScorerManifest.from_dict(manifest))
        self._version = None

    def use_calibration(self, data: dict | None) -> None:
        """Take a newly fitted "calibration" (train/calibration.py) into the manifest."""
        from asag.train.calibration import Calibration

        self._manifest.calibration = data
        self.calibration = Calibration.from_manifest(self.scale, data)
        self._version = None

    @property
    def version(self) -> str | None:
        """The model version its predictions and checks carry (directory.version: the
        directory's name and a hash of the manifest); None when not loaded from one."""
        if self._version is None and self.path is not None:
            self._version = model_version(self.path, self._manifest)
        return self._version

    def grown(self, memory, added: int) -> Scorer:
        """A copy sharing the weights and calibration, with `memory` (its own and `added`
        teachers' scores more) as its graded-answer memory: version `VERSION+added`, a later
        version of the same lineage, so its decision counts the lineage's checks
        (train/checks.py)."""
        import copy

        twin = copy.copy(self)
        twin.consultant = copy.copy(self.consultant)
        twin.consultant.memory = memory
        if self.version is not None:
            twin._version = f"{self.version}+{added}"
        return twin

    def checks(self):
        """The prequential checks that count for this version (train/checks.py), or None."""
        from asag.train.checks import CHECKS, Checks

        if self.path is None or not (self.path / CHECKS).is_file():
            return None
        return Checks(self.path).of(self.version)

    @classmethod
    def load(cls, path: str | Path, *, device: str | None = None,
             threads: int | str | None = "auto", quantize: bool = False) -> Scorer:
        """Load a scorer directory; `quantize` makes Linear layers int8 (CPU, faster).
        `threads`: torch's CPU threads for this process, "auto" (half the cores: see
        default_threads), a number, or None / 0 to leave torch's setting alone."""
        path = Path(path)
        manifest = read(path)
        if not (path / "model.safetensors").is_file():
            raise InputError("no model.safetensors (this tool loads safetensors only)",
                             file=str(path), fix="re-save the model with safe_serialization")
        verify(path, manifest)
        configure_quiet_loading()
        import torch
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        set_threads(threads)
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
            model = AutoModelForSequenceClassification.from_pretrained(
                str(path), use_safetensors=True, local_files_only=True)
        except Exception as exc:  # noqa: BLE001 - whatever transformers raises, one line
            first = " ".join(str(exc).split())[:200] or type(exc).__name__
            raise InputError(f"cannot load the model or its tokenizer ({first})",
                             file=str(path), fix="restore the scorer directory from its "
                             "source, or retrain") from None
        if quantize:
            import warnings

            with warnings.catch_warnings():  # torch.ao's deprecation notes, not the user's concern
                warnings.simplefilter("ignore")
                model = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear},
                                                               torch.qint8)
            device = "cpu"
        consultant = None
        if manifest.memory:
            from asag.train.memory import Consultant

            consultant = Consultant.load(path, manifest.memory, Scale.parse(manifest.scale),
                                         device)
        scorer = cls(model, tokenizer, manifest, device=device, consultant=consultant)
        scorer.path = path
        return scorer

    @property
    def metrics(self) -> dict:
        return self._manifest.metrics or {}

    def score(self, question: str, reference_answer: str, student_answer: str) -> Prediction:
        return self.score_many([(question, reference_answer, student_answer)])[0]

    def score_many(self, items: Iterable[Mapping | Sequence], *, batch_size: int = 32,
                   on_batch: Callable[[int], None] | None = None) -> list[Prediction]:
        """Score (question, reference_answer, student_answer) tuples or dicts with those keys,
        in input order (batched internally by length)."""
        return self.predict([_as_row(item) for item in items], batch_size=batch_size,
                            on_batch=on_batch)

    def predict(self, rows: list[dict], *, batch_size: int = 32,
                on_batch: Callable[[int], None] | None = None,
                max_error: float | None = None, tolerance: float = 0.0) -> list[Prediction]:
        """Predictions for rows (dicts with question, reference_answer, student_answer), with
        the calibrated confidence and set / interval when the scorer is calibrated;
        `max_error` also marks each one auto-scored or not: the one decision that `asag
        score`, `asag serve` and the Label Studio hint share. Its evidence is the
        calibration's held-out answers plus this version's prequential checks
        (train/checks.py); on numeric scales an auto-score counts as an error when it lies
        more than `tolerance` from the teachers' score (0: exact)."""
        checks = None
        if max_error is not None:
            self.check_decision(tolerance)
            checks = self.checks()
        ce = self.cross_encoder_outputs(rows, batch_size=batch_size, on_batch=on_batch)
        out, seen, knn = (self.consultant.consult(ce, rows) if self.consultant is not None
                          and len(rows) else (ce, None, None))
        predictions = [self.prediction(o) for o in out]
        if self.calibration is not None:
            self.calibration.annotate(self.scale, predictions, out, ce, seen, knn,
                                      max_error=max_error, tolerance=tolerance, checks=checks,
                                      questions=[r.get("question_id") for r in rows])
        return predictions

    def check_decision(self, tolerance: float = 0.0) -> None:
        """Refuse an auto-scoring request this scorer cannot hold, in one line."""
        if self.calibration is None:
            raise InputError("this scorer has no calibration, so it cannot hold an error rate",
                             fix="retrain it, or run 'asag calibrate MODEL DATASET'")
        if tolerance and not self.scale.is_numeric:
            raise InputError(f"--tolerance applies to numeric scales; this scorer scores "
                             f"labels ({self.scale.spec})", fix="leave out --tolerance")
        if tolerance < 0:
            raise InputError(f"--tolerance must be 0 or more, not {tolerance}",
                             fix="give a distance on the scale, e.g. 1")
        self.calibration.correct_within(tolerance)  # refuses a calibration without errors

    def decision_evidence(self, max_error: float, tolerance: float = 0.0) -> dict:
        """What the auto-scoring decision rests on (recorded beside its results)."""
        import math

        checks = self.checks()
        cut = self.calibration.threshold(max_error, tolerance, checks)
        own = self.calibration.own_thresholds(max_error, tolerance, checks)
        return {"max_error": max_error, "tolerance": tolerance, "model_version": self.version,
                "held_out": len(self.calibration.confidence),
                "checks": 0 if checks is None else len(checks),
                "threshold": None if math.isinf(cut) else round(cut, 6),
                "own_thresholds": len(own),
                "own_thresholds_certified": sum(not math.isinf(c) for c in own.values())}

    def cross_encoder_outputs(self, rows: list[dict], *, batch_size: int = 32,
                              on_batch: Callable[[int], None] | None = None):
        """The fine-tuned cross-encoder's own logits rows, in input order."""
        import numpy as np
        import torch

        if not rows:
            return np.zeros((0, self.model.config.num_labels), dtype=np.float32)
        enc = encode(self.tokenizer, self.template, rows, self.max_length)
        self.truncated += self._count_truncated(rows, enc["input_ids"])
        keys = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc]
        order = np.argsort([len(ids) for ids in enc["input_ids"]], kind="stable")
        out = np.zeros((len(rows), self.model.config.num_labels), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(order), batch_size):
                idx = order[start:start + batch_size]
                batch = self.tokenizer.pad({k: [enc[k][i] for i in idx] for k in keys},
                                           return_tensors="pt")
                batch = {k: v.to(self.device) for k, v in batch.items()}
                logits = self.model(**batch).logits.float().cpu().numpy()
                out[idx] = logits
                if on_batch is not None:
                    on_batch(len(idx))
        return out

    def _count_truncated(self, rows: list[dict], ids: list[list[int]]) -> int:
        """Rows at the cap, re-tokenised uncut: those longer than max_length were cut."""
        full = [rows[i] for i, x in enumerate(ids) if len(x) >= self.max_length]
        if not full:
            return 0
        uncut = encode(self.tokenizer, self.template, full, None)["input_ids"]
        return sum(len(x) > self.max_length for x in uncut)

    def prediction(self, logits) -> Prediction:
        import numpy as np

        if self.scale.is_numeric:
            value = round(self.scale.from_unit(float(logits[0])), 6)
            index = self.scale.nearest_index(value)
            return Prediction(score=value, step=self.scale.values[index], index=index)
        z = np.asarray(logits, dtype=np.float64)
        p = np.exp(z - z.max())
        p /= p.sum()
        best = int(p.argmax())
        probs = {label: round(float(x), 6) for label, x in zip(self.scale.labels, p, strict=True)}
        return Prediction(score=self.scale.labels[best], probabilities=probs,
                          confidence=round(float(p[best]), 6), index=best)


def _as_row(item) -> dict:
    if isinstance(item, Mapping):
        missing = [k for k in ("question", "reference_answer", "student_answer") if k not in item]
        if missing:
            raise ValueError(f"item lacks {', '.join(missing)}")
        return dict(item)
    question, reference, answer = item
    return {"question": question, "reference_answer": reference, "student_answer": answer}


def model_summary(manifest: dict) -> dict:
    """What another application asks first about a scorer: its scale, base model and the
    dataset it was trained on (`asag serve`'s /model, `asag export`'s asag_onnx.json)."""
    dataset = manifest.get("dataset") or {}
    return {"scale": manifest.get("scale"), "base_model": manifest.get("base_model"),
            "dataset_fingerprint": dataset.get("fingerprint"),
            "metrics": manifest.get("metrics", {})}


def unscorable(row: Mapping) -> str | None:
    """Why a row cannot be scored ('student_answer: is blank ...'), or None. A blank answer
    is refused as `asag gather` refuses it; a lone surrogate (valid in JSON as "\\udc80",
    never in a UTF-8 file) cannot be tokenised. The serve and score commands name the row
    and score the others."""
    for name in ("question", "reference_answer", "student_answer"):
        text = row.get(name)
        if not isinstance(text, str):
            continue
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            return (f"{name}: is not valid Unicode text (a lone surrogate "
                    f"{text[exc.start]!a} at character {exc.start}); send UTF-8 text")
    answer = row.get("student_answer")
    if not isinstance(answer, str) or not answer.strip():
        return ("student_answer: is blank; send the student's answer (asag gather refuses "
                "blank answers too)")
    return None
