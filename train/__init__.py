"""Train, evaluate and use BERT-family short-answer scorers.

The Python API (imports torch only when first used)::

    from asag.train import Scorer
    scorer = Scorer.load("models/physics-v3")
    print(scorer.score(question, reference_answer, student_answer).score)
"""

from __future__ import annotations

import importlib

_LAZY = {
    "Scorer": "asag.train.scorer",
    "Prediction": "asag.train.scorer",
    "TrainArgs": "asag.train.args",
    "train": "asag.train.training",
    "evaluate": "asag.train.evaluation",
    "score_table": "asag.train.scoring",
}
__all__ = list(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'asag.train' has no attribute {name!r}")
