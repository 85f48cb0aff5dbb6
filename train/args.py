"""Training arguments as one validated dataclass, so the CLI, the Python API and the model
card all speak the same names and a bad value fails at once with a one-line message."""

from __future__ import annotations

import math
import os
import string
from dataclasses import asdict, dataclass, fields

from asag.errors import OptionError

SEP = "[SEP]"
FIELDS = ("question", "reference_answer", "student_answer")
# The reference answer as the first segment, the student's answer as the second: what a
# teacher compares (the literature's BERT set-up for SciEntsBank); the question's answers
# are told apart by the graded-answer memory, and the shorter input trains faster.
DEFAULT_TEMPLATE = "{reference_answer} [SEP] {student_answer}"
PRECISIONS = ("auto", "fp32", "fp16", "bf16")
CLASS_WEIGHTS = ("none", "balanced")
CHOICES = {"precision": PRECISIONS, "class_weights": CLASS_WEIGHTS}  # fields with fixed values
HEAD_LR_FACTOR = 10
# Epochs when none are given: enough passes for MIN_STEPS optimiser steps, at least
# MIN_EPOCHS, at most MAX_EPOCHS; early stopping on validation ends sooner when more passes
# stop helping. A course's few hundred or thousand answers need as many updates as a large
# set gets (about 800 at batch 16): with 300, half of SciEntsBank 3-way reached UA macro-F1
# 0.54, with 800 (6 epochs, the best at the fifth) 0.60. A large set needs every answer
# seen five times: all of SciEntsBank 3-way reached 0.667 in 3 epochs (the best checkpoint
# the last) and 0.69-0.72 in 5 (BENCHMARKS.md).
MIN_STEPS, MIN_EPOCHS, MAX_EPOCHS = 800, 5, 20


class ArgumentError(OptionError):
    """A bad training argument, named by its command-line option."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(message, option=f"'--{name.replace('_', '-')}'")

    def __str__(self) -> str:  # Python callers see the option's name too
        return f"Invalid value for {self.option}: {self.message}"


def parse_template(template: str) -> tuple[str, str | None]:
    """(first segment, second segment or None); fields are checked against FIELDS."""
    parts = template.split(SEP)
    if len(parts) > 2:
        raise ArgumentError("template", f"use '{SEP}' at most once to split the two segments")
    try:
        names = [f for part in parts for _, f, _, _ in string.Formatter().parse(part)
                 if f is not None]
    except ValueError as exc:
        raise ArgumentError("template", f"'{template}' is not a format string ({exc})") from None
    unknown = [n for n in names if n not in FIELDS]
    if unknown:
        known = ", ".join(f"{{{f}}}" for f in FIELDS)
        raise ArgumentError("template", f"unknown field {{{unknown[0]}}}; use {known}")
    if "student_answer" not in names:
        raise ArgumentError("template", "must contain {student_answer}")
    first = parts[0].strip()
    second = parts[1].strip() if len(parts) == 2 else None
    if not first or second == "":
        raise ArgumentError("template", f"both sides of '{SEP}' need a field")
    return first, second


@dataclass
class TrainArgs:
    """Everything that shapes a training run; defaults suit a small CPU and a GPU alike."""

    base_model: str | None = None  # None: the offline all-MiniLM-L6-v2 shipped on PyPI
    template: str = DEFAULT_TEMPLATE
    max_length: int | None = None  # None: chosen from the data (see length_percentile)
    length_percentile: float = 99.0
    epochs: float | None = None  # None: from the data size (epochs_for)
    max_steps: int = -1  # > 0 overrides epochs (benchmarks, smoke runs)
    batch_size: int = 16
    eval_batch_size: int = 64
    learning_rate: float = 1e-4  # a small (MiniLM-sized) model; measured on SciEntsBank
    # The classification head starts tiny (a fresh classifier behind a pooler that sentence
    # models never trained), so at the body's rate it takes hundreds of steps to speak up.
    head_learning_rate: float | None = None  # None: 10 x learning_rate on label scales
    class_weights: str = "none"  # balanced: rare classes weigh more (label scales only)
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    gradient_accumulation_steps: int = 1
    eval_steps: int | None = None  # None: evaluate once per epoch
    early_stopping_patience: int = 2  # evaluations without improvement; 0 turns it off
    validation_fraction: float = 0.1  # carved from train when the dataset has no validation
    seed: int = 42
    # auto: bf16/fp16 on a GPU that supports it; bf16 on a CPU with native bf16 arithmetic
    # (AVX512-BF16 or AMX: 1.25-1.5x the fp32 training rate measured here), else fp32
    precision: str = "auto"
    threads: int | None = None  # CPU threads per process; None: cores / processes
    logging_steps: int = 50
    # the graded answers of each question and the base model's sentence similarity, combined
    # with the cross-encoder by heads fitted on held-out answers (train/memory.py)
    graded_memory: bool = True

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        parse_template(self.template)
        _positive(self, "batch_size", "eval_batch_size", "gradient_accumulation_steps",
                  "logging_steps")
        _positive_float(self, "learning_rate")
        if self.head_learning_rate is not None:
            _positive_float(self, "head_learning_rate")
        if self.max_length is not None and self.max_length < 8:
            raise ArgumentError("max_length", f"{self.max_length} is too short; give 8 or more")
        if not 50 <= self.length_percentile <= 100:
            raise ArgumentError("length_percentile", "must be between 50 and 100")
        if (self.epochs is not None and not (self.epochs > 0 and math.isfinite(self.epochs))
                and self.max_steps <= 0):
            raise ArgumentError("epochs", f"{self.epochs} must be > 0 (or give --max-steps)")
        if self.weight_decay < 0:
            raise ArgumentError("weight_decay", "must be >= 0")
        if not 0 <= self.warmup_ratio < 1:
            raise ArgumentError("warmup_ratio", "must be in [0, 1)")
        if self.eval_steps is not None and self.eval_steps <= 0:
            raise ArgumentError("eval_steps", "must be > 0 (or leave it out: once per epoch)")
        if self.early_stopping_patience < 0:
            raise ArgumentError("early_stopping_patience", "must be >= 0 (0 turns it off)")
        if not 0 < self.validation_fraction < 0.5:
            raise ArgumentError("validation_fraction", "must be between 0 and 0.5")
        for name, allowed in CHOICES.items():
            if getattr(self, name) not in allowed:
                raise ArgumentError(name, f"'{getattr(self, name)}' is not one of "
                                    f"{', '.join(allowed)}")
        if self.threads is not None and not 1 <= self.threads <= 1024:
            raise ArgumentError("threads", "must be a positive number of threads")
        if self.seed < 0:
            raise ArgumentError("seed", "must be >= 0")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainArgs:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def epochs_for(self, answers: int, processes: int = 1) -> float:
        """The epochs to run on `answers` training answers (the given --epochs, if any)."""
        if self.epochs is not None:
            return float(self.epochs)
        per_step = self.batch_size * self.gradient_accumulation_steps * max(1, processes)
        steps = max(1, math.ceil(answers / per_step))
        return float(min(MAX_EPOCHS, max(MIN_EPOCHS, math.ceil(MIN_STEPS / steps))))

    def resolved_precision(self) -> str:
        """The precision "auto" stands for on this machine (mixed precision: the weights
        and the optimiser stay fp32, the matrix products run in half precision)."""
        if self.precision != "auto":
            return self.precision
        import torch

        if torch.cuda.is_available():
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        native = any(getattr(torch.cpu, name, lambda: False)()
                     for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported"))
        return "bf16" if native else "fp32"

    def head_lr(self, classification: bool) -> float:
        """A regression head stays at the body's rate: faster, it collapses to the mean."""
        if self.head_learning_rate:
            return self.head_learning_rate
        return self.learning_rate * (HEAD_LR_FACTOR if classification else 1)

    def cpu_threads(self, processes: int = 1) -> int:
        """Threads per process: the machine's cores shared among the processes."""
        if self.threads:
            return self.threads
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        return max(1, (cores or 1) // max(1, processes))


def _positive(args: TrainArgs, *names: str) -> None:
    for name in names:
        value = getattr(args, name)
        if not isinstance(value, int) or value <= 0:
            raise ArgumentError(name, f"{value} must be a positive whole number")


def _positive_float(args: TrainArgs, *names: str) -> None:
    for name in names:
        value = getattr(args, name)
        if not (value > 0 and math.isfinite(value)):
            raise ArgumentError(name, f"{value} must be > 0")
