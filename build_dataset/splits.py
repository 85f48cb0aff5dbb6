"""Stable split assignment: an answer's split is a pure function of (seed, key), so
regenerating after new labels never moves an existing answer and test never leaks into train.

The key is the answer id (unseen answers) or the question id (unseen questions: all answers
to a question share one split). A blake2b hash of "seed<US>key" mapped to [0, 1) is compared
with the cumulative ratios; nothing depends on the other rows, their order or their count."""

from __future__ import annotations

import hashlib
import re

import numpy as np

SPLIT_NAME = re.compile(r"^[A-Za-z0-9_]+$")
HASHED = ("train", "validation", "test")


def unit_hash(seed: int, keys) -> np.ndarray:
    """Each key's position in [0, 1): the first 8 bytes of blake2b(seed, key) / 2**64."""
    prefix = f"{seed}\x1f".encode()
    digests = b"".join(
        hashlib.blake2b(prefix + str(k).encode("utf-8"), digest_size=8).digest() for k in keys
    )
    return np.frombuffer(digests, dtype=">u8").astype(np.float64) / 2.0**64


def parse_ratios(text: str) -> tuple[float, float, float]:
    """'0.8,0.1,0.1' -> (train, validation, test); they must be >= 0 and sum to 1."""
    try:
        parts = tuple(float(p) for p in text.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 3 or min(parts) < 0 or abs(sum(parts) - 1) > 1e-6:
        raise ValueError(
            f"'{text}' is not three ratios train,validation,test that sum to 1 (e.g. 0.8,0.1,0.1)"
        )
    return parts  # type: ignore[return-value]


def hashed(u: np.ndarray, ratios) -> np.ndarray:
    """train below ratios[0], validation below ratios[0] + ratios[1], else test."""
    cut_train, cut_val = ratios[0], ratios[0] + ratios[1]
    return np.where(u < cut_train, "train", np.where(u < cut_val, "validation", "test"))


def resolve(keys, explicit, seed: int, ratios, carve_validation: float) -> np.ndarray:
    """Explicit splits win row by row; rows without one get the hashed split. Of the rows whose
    explicit split is `train`, those hashing below `carve_validation` become `validation`."""
    u = unit_hash(seed, keys)
    explicit = np.asarray(explicit, dtype=object)
    has = np.array([e is not None for e in explicit], dtype=bool)
    out = np.where(has, explicit, hashed(u, ratios)).astype(object)
    out[has & (explicit == "train") & (u < carve_validation)] = "validation"
    return out


_FROM_NAME = re.compile(
    r"(?:^|[_\-. ])(train|training|validation|valid|val|dev|test(?:[_\-]\w+)?)$", re.IGNORECASE
)
_ALIASES = {"training": "train", "valid": "validation", "val": "validation", "dev": "validation"}


def split_from_filename(stem: str) -> str | None:
    """'3way_test_ua' -> 'test_ua', 'gradebook-dev' -> 'validation', 'answers' -> None."""
    m = _FROM_NAME.search(stem)
    if not m:
        return None
    name = m.group(1).lower().replace("-", "_")
    return _ALIASES.get(name, name)
