"""What a course already knows, beside the fine-tuned cross-encoder: the answers teachers have
scored (a *memory* of graded answers, consulted per question) and the base model's pretrained
sentence similarity. A small stacked head combines them with the cross-encoder's output.

Why: a cross-encoder fine-tuned on a few hundred answers has barely moved, while the nearest
graded answers of the same question and cos(reference, answer) in the pretrained embedding
space are informative from the first few scored answers on. The head is fitted on held-out
answers (the validation split), so it learns how far to trust each signal; a second head
without the memory's features scores questions that have no graded answers yet.

Layout in a scorer directory: `embedder/` (the frozen sentence model, sentence-transformers
format), `memory/answers.jsonl` + `memory/embeddings.safetensors`, and the heads' weights
in the manifest (plain numbers: nothing is unpickled)."""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from asag.errors import InputError
from asag.scale import Scale
from asag.train.directory import EMBEDDER, MEMORY

NEIGHBOURS = 10  # graded answers of the same question that vote
TEMPERATURE = 0.05  # softmax temperature of the similarity-weighted vote
MIN_HELD_OUT = 8  # fewer held-out answers than this: no head is fitted (cross-encoder alone)


def question_keys(row: dict) -> tuple[str, str]:
    """(id key, text key): answers of one question meet under its id where both sides have
    one, else under its normalised text (the Python API is often given no ids)."""
    qid = row.get("question_id")
    text = unicodedata.normalize("NFC", " ".join(str(row.get("question") or "").split()))
    return (f"id:{qid}" if qid not in (None, "") else "", f"text:{text.casefold()}")


class Embedder:
    """The frozen sentence model: L2-normalised embeddings of single texts.

    Each call embeds its own distinct texts and keeps nothing between calls, so a text's
    vector depends only on the call's texts: a resumed `asag score` (which scores the same
    chunks) writes exactly what an uninterrupted run writes."""

    def __init__(self, model) -> None:
        self.model = model

    @classmethod
    def load(cls, path: str | Path, device=None) -> Embedder:
        from sentence_transformers import SentenceTransformer

        from asag.train.scorer import configure_quiet_loading

        configure_quiet_loading()
        return cls(SentenceTransformer(str(path), device=str(device or "cpu"),
                                       local_files_only=True))

    def save(self, path: Path) -> None:
        self.model.save(str(path), safe_serialization=True)

    def encode(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        if not texts:
            dim = getattr(self.model, "get_embedding_dimension",
                          self.model.get_sentence_embedding_dimension)()
            return np.zeros((0, dim), np.float32)
        distinct = sorted(set(texts))  # references repeat within a call: embed each once
        vectors = self.model.encode(distinct, batch_size=batch_size, normalize_embeddings=True,
                                    convert_to_numpy=True, show_progress_bar=False)
        where = {t: i for i, t in enumerate(distinct)}
        return vectors.astype(np.float32)[[where[t] for t in texts]]


@dataclass
class Memory:
    """Graded answers: one row per answer, its embedding, target and question key."""

    ids: list[str]
    keys: list[tuple[str, str]]  # question_keys() of each answer
    targets: np.ndarray  # class index (labels) or 0..1 (numeric scales)
    vectors: np.ndarray  # (n, dim), L2-normalised

    @classmethod
    def build(cls, rows: list[dict], embedder: Embedder, scale: Scale) -> Memory:
        from asag.train.data import target

        return cls(ids=[str(r.get("id") or "") for r in rows],
                   keys=[question_keys(r) for r in rows],
                   targets=np.array([target(scale, r["score"]) for r in rows], dtype=np.float32),
                   vectors=embedder.encode([_text(r["student_answer"]) for r in rows]))

    def __len__(self) -> int:
        return len(self.ids)

    def extended(self, other: Memory) -> Memory:
        """This memory plus `other`'s answers (an answer id already present is replaced)."""
        new = set(other.ids) - {""}
        keep = [i for i, a in enumerate(self.ids) if a not in new]
        return Memory(ids=[self.ids[i] for i in keep] + other.ids,
                      keys=[self.keys[i] for i in keep] + other.keys,
                      targets=np.concatenate([self.targets[keep], other.targets]),
                      vectors=np.concatenate([self.vectors[keep], other.vectors]))

    def updated(self, rows: list[dict], embedder: Embedder, scale: Scale) -> tuple[Memory, int]:
        """(this memory with `rows` in it, answers embedded): answers already here keep
        their vector and take the new score; only new answers are embedded."""
        from asag.train.data import target

        where = {a: i for i, a in enumerate(self.ids) if a}
        targets = self.targets.copy()
        new = []
        for row in rows:
            i = where.get(str(row.get("id") or ""))
            if i is None:
                new.append(row)
            else:
                targets[i] = target(scale, row["score"])
        kept = Memory(self.ids, self.keys, targets, self.vectors)
        return (kept.extended(Memory.build(new, embedder, scale)) if new else kept), len(new)

    @cached_property
    def by_key(self) -> dict[str, np.ndarray]:
        """Question key -> answer rows; built once per memory (every scored chunk asks)."""
        groups: dict[str, list[int]] = {}
        for i, keys in enumerate(self.keys):
            for key in keys:
                if key:
                    groups.setdefault(key, []).append(i)
        return {k: np.array(v) for k, v in groups.items()}

    def questions(self) -> int:
        return len({k[0] or k[1] for k in self.keys})

    def save(self, path: Path) -> None:
        from safetensors.numpy import save_file

        from asag.records import atomic_writer

        path.mkdir(parents=True, exist_ok=True)
        save_file({"vectors": np.ascontiguousarray(self.vectors),
                   "targets": np.ascontiguousarray(self.targets)},
                  str(path / "embeddings.safetensors"))
        with atomic_writer(path / "answers.jsonl") as fh:
            for answer_id, (by_id, by_text) in zip(self.ids, self.keys, strict=True):
                fh.write(json.dumps({"id": answer_id, "question_id": by_id,
                                     "question": by_text}, ensure_ascii=False) + "\n")

    @classmethod
    def load(cls, path: Path) -> Memory:
        from safetensors.numpy import load_file

        try:
            arrays = load_file(str(path / "embeddings.safetensors"))
            rows = [json.loads(line) for line in
                    (path / "answers.jsonl").read_text(encoding="utf-8").splitlines() if line]
        except (OSError, ValueError) as exc:
            raise InputError(f"the graded-answer memory is damaged ({exc})", file=str(path),
                             fix="retrain the scorer with 'asag train'") from None
        if len(rows) != len(arrays["targets"]):
            raise InputError("memory/answers.jsonl and embeddings.safetensors disagree",
                             file=str(path), fix="retrain the scorer with 'asag train'")
        return cls(ids=[r["id"] for r in rows],
                   keys=[(r["question_id"], r["question"]) for r in rows],
                   targets=arrays["targets"], vectors=arrays["vectors"])


def _text(value) -> str:
    """As the cross-encoder's template sees it (train/data.py): None/NaN empty, runs of
    whitespace folded."""
    from asag.train.data import _text as plain

    return " ".join(plain(value).split())


# -- features ------------------------------------------------------------------------------

def features(scale: Scale, outputs: np.ndarray, rows: list[dict], embedder: Embedder,
             memory: Memory | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(features with the memory's signals, features without them, has-neighbours mask).

    Per answer: the cross-encoder's output (class log-probabilities, or its 0..1 value),
    cos(reference, answer), and over the graded answers of the same question (never the
    answer itself): the similarity-weighted vote of the nearest ones and the highest
    similarity per class (numeric scales: the weighted mean, the nearest one's score and
    the highest similarity)."""
    answers = embedder.encode([_text(r.get("student_answer")) for r in rows])
    references = embedder.encode([_text(r.get("reference_answer")) for r in rows])
    cos = (answers * references).sum(axis=1, keepdims=True)
    if scale.is_numeric:
        base = np.hstack([outputs[:, :1], cos])
    else:
        z = outputs - outputs.max(axis=1, keepdims=True)
        base = np.hstack([z - np.log(np.exp(z).sum(axis=1, keepdims=True)), cos])
    k = len(scale.labels) if not scale.is_numeric else 3
    knn = np.zeros((len(rows), 2 * k if not scale.is_numeric else k), dtype=np.float64)
    seen = np.zeros(len(rows), dtype=bool)
    if memory is not None and len(memory):
        groups = memory.by_key
        for i, row in enumerate(rows):
            by_id, by_text = question_keys(row)
            idx = groups.get(by_id) if by_id else None
            idx = groups.get(by_text) if idx is None else idx
            if idx is None:
                continue
            own = str(row.get("id") or "")
            if own:
                idx = idx[[memory.ids[j] != own for j in idx]]
            if len(idx) == 0:
                continue
            seen[i] = True
            sims = memory.vectors[idx] @ answers[i]
            knn[i] = _vote(scale, sims, memory.targets[idx])
    return np.hstack([base, knn]), base, seen


def _vote(scale: Scale, sims: np.ndarray, targets: np.ndarray) -> np.ndarray:
    order = np.argsort(-sims)[:NEIGHBOURS]
    weights = np.exp((sims[order] - sims[order[0]]) / TEMPERATURE)
    weights /= weights.sum()
    if scale.is_numeric:
        return np.array([float(weights @ targets[order]), float(targets[order[0]]),
                         float(sims[order[0]])])
    classes = len(scale.labels)
    labels = targets.astype(int)
    vote = np.bincount(labels[order], weights=weights, minlength=classes)
    best = np.zeros(classes)
    for c in range(classes):
        mine = sims[labels == c]
        best[c] = mine.max() if len(mine) else 0.0
    return np.concatenate([vote, best])


# -- the stacked heads --------------------------------------------------------------------

@dataclass
class Head:
    """A linear head on standardised features: logistic (labels) or ridge (numeric)."""

    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray  # (classes, features) or (1, features)
    intercept: np.ndarray

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.scale) @ self.coef.T + self.intercept

    def to_dict(self) -> dict:
        return {k: np.asarray(getattr(self, k)).round(8).tolist()
                for k in ("mean", "scale", "coef", "intercept")}

    @classmethod
    def from_dict(cls, data: dict) -> Head:
        return cls(**{k: np.asarray(data[k], dtype=np.float64)
                      for k in ("mean", "scale", "coef", "intercept")})

    @classmethod
    def fit(cls, scale: Scale, x: np.ndarray, y: np.ndarray) -> Head | None:
        """None when the held-out answers cannot support a head (too few, one class)."""
        if len(y) < MIN_HELD_OUT:
            return None
        mean, sd = x.mean(axis=0), x.std(axis=0)
        sd[sd < 1e-6] = 1.0
        xs = (x - mean) / sd
        if scale.is_numeric:
            from sklearn.linear_model import RidgeCV

            model = RidgeCV(alphas=np.logspace(-2, 3, 12)).fit(xs, y)
            return cls(mean, sd, np.atleast_2d(model.coef_), np.atleast_1d(model.intercept_))
        classes = len(scale.labels)
        present = np.unique(y.astype(int))
        if len(present) < 2:
            return None
        from sklearn.linear_model import LogisticRegression

        # C=1 on standardised features is a moderate, scale-free prior; the heads are small
        model = LogisticRegression(C=1.0, max_iter=2000).fit(xs, y.astype(int))
        coef = np.zeros((classes, x.shape[1]))
        intercept = np.full(classes, -30.0)  # a class absent from held-out: never chosen
        if len(present) == 2:  # sklearn keeps one row for two classes
            coef[present[1]], intercept[present[1]] = model.coef_[0], model.intercept_[0]
            intercept[present[0]] = 0.0
        else:
            coef[present], intercept[present] = model.coef_, model.intercept_
        return cls(mean, sd, coef, intercept)


def apply_heads(scale: Scale, outputs: np.ndarray, full: np.ndarray, base: np.ndarray,
                seen: np.ndarray, seen_head: Head | None, unseen_head: Head | None) -> np.ndarray:
    """The seen head on answers with graded neighbours, the unseen head on the others (the
    cross-encoder's own output where a head is missing)."""
    out = outputs.astype(np.float64).copy()
    for head, x, mask in ((seen_head, full, seen), (unseen_head, base, ~seen)):
        if head is not None and mask.any():
            out[mask] = head(x[mask])
    if scale.is_numeric:
        out = np.clip(out, 0.0, 1.0)
    return out.astype(np.float32)


@dataclass
class Consultant:
    """Memory + embedder + heads: turns cross-encoder outputs into the scorer's outputs."""

    scale: Scale
    embedder: Embedder
    memory: Memory
    seen_head: Head | None
    unseen_head: Head | None

    def __call__(self, outputs: np.ndarray, rows: list[dict]) -> np.ndarray:
        return self.consult(outputs, rows)[0]

    def consult(self, outputs: np.ndarray, rows: list[dict]
                ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """(the scorer's outputs, has-neighbours mask, the memory's vote features): the last
        two feed the calibrated confidence (train/calibration.py); None without heads."""
        if self.seen_head is None and self.unseen_head is None:
            return outputs, None, None
        full, base, seen = features(self.scale, outputs, rows, self.embedder, self.memory)
        return apply_heads(self.scale, outputs, full, base, seen, self.seen_head,
                           self.unseen_head), seen, full[:, base.shape[1]:]

    def to_manifest(self) -> dict:
        return {"answers": len(self.memory), "questions": self.memory.questions(),
                "neighbours": NEIGHBOURS, "temperature": TEMPERATURE,
                "seen_head": self.seen_head and self.seen_head.to_dict(),
                "unseen_head": self.unseen_head and self.unseen_head.to_dict()}

    def save(self, directory: Path) -> None:
        self.embedder.save(directory / EMBEDDER)
        self.memory.save(directory / MEMORY)

    @classmethod
    def load(cls, directory: Path, info: dict, scale: Scale, device=None) -> Consultant:
        """From a scorer directory and its manifest's "memory" (`to_manifest`)."""
        heads = [Head.from_dict(info[k]) if info.get(k) else None
                 for k in ("seen_head", "unseen_head")]
        if not (directory / EMBEDDER).is_dir():
            raise InputError(f"no {EMBEDDER}/ (the scorer's sentence model)", file=str(directory),
                             fix="copy the whole scorer directory, or retrain it")
        return cls(scale, Embedder.load(directory / EMBEDDER, device), Memory.load(
            directory / MEMORY), *heads)


def fit(scale: Scale, embedder: Embedder, train_rows: list[dict], held_out: list[dict],
        held_out_outputs: np.ndarray) -> Consultant:
    """Heads fitted on held-out answers against a memory of the training answers; the saved
    memory then holds both (every graded answer helps at scoring time)."""
    from asag.train.data import target

    memory = Memory.build(train_rows, embedder, scale)
    full, base, seen = features(scale, held_out_outputs, held_out, embedder, memory)
    y = np.array([target(scale, r["score"]) for r in held_out], dtype=np.float64)
    seen_head = Head.fit(scale, full[seen], y[seen])
    unseen_head = Head.fit(scale, base, y)  # every held-out answer, as if its question were new
    if held_out:
        memory = memory.extended(Memory.build(held_out, embedder, scale))
    return Consultant(scale, embedder, memory, seen_head, unseen_head)
