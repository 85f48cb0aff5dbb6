"""From a built dataset directory to tokenised model inputs: the template, the targets on the
scale, and a max_length chosen from the data (dynamic padding makes a generous cap cheap)."""

from __future__ import annotations

import math
from pathlib import Path

from asag.errors import InputError
from asag.scale import Scale
from asag.train.args import TrainArgs, parse_template

TEXT_COLUMNS = ("question", "reference_answer", "student_answer")


def _text(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return str(value)


def render(template: str, rows: list[dict]) -> tuple[list[str], list[str] | None]:
    """The first (and second) segment of each row, from the template."""
    first, second = parse_template(template)
    texts = [{c: _text(r.get(c)) for c in TEXT_COLUMNS} for r in rows]
    firsts = [" ".join(first.format(**t).split()) for t in texts]
    if second is None:
        return firsts, None
    return firsts, [" ".join(second.format(**t).split()) for t in texts]


def encode(tokenizer, template: str, rows: list[dict], max_length: int | None) -> dict:
    """Tokenised rows without padding; max_length None means untruncated (to measure)."""
    first, second = render(template, rows)
    kwargs = {"truncation": True, "max_length": max_length} if max_length else {"truncation": False}
    return tokenizer(first, second, **kwargs) if second is not None else tokenizer(first, **kwargs)


def model_max_length(tokenizer, config) -> int:
    """The longest input the model takes (position embeddings, tokenizer limit)."""
    limits = [getattr(config, "max_position_embeddings", None), tokenizer.model_max_length]
    usable = [int(x) for x in limits if isinstance(x, int) and 0 < x < 100_000]
    cap = min(usable) if usable else 512
    # RoBERTa-style models reserve two positions for the padding offset.
    if getattr(config, "model_type", "") in ("roberta", "xlm-roberta", "camembert"):
        cap = min(cap, int(config.max_position_embeddings) - 2)
    return cap


def choose_max_length(lengths: list[int], percentile: float, cap: int) -> int:
    """A percentile of the token lengths, rounded up to a multiple of 8, within the model."""
    if not lengths:
        return min(cap, 128)
    ordered = sorted(lengths)
    k = min(len(ordered) - 1, max(0, math.ceil(percentile / 100 * len(ordered)) - 1))
    return max(8, min(cap, 8 * math.ceil(ordered[k] / 8)))


def load_for_training(directory: str | Path):
    """(DatasetDict, manifest, Scale) with the checks training needs, as one-line errors."""
    from asag.dataset_layout import dataset_scale, load_dataset_dir

    dsd, manifest = load_dataset_dir(directory)
    try:
        scale = dataset_scale(manifest)
    except Exception as exc:  # KeyError, a ScaleError, a scale that is not text
        raise InputError(f"manifest.json has no usable 'scale' ({exc})", file=str(directory),
                         fix="rebuild the dataset with 'asag build-dataset'") from None
    for name, split in dsd.items():
        missing = [c for c in (*TEXT_COLUMNS, "score") if c not in split.column_names]
        if missing:
            raise InputError(f"split '{name}' lacks column(s) {', '.join(missing)}",
                             file=str(directory), fix="rebuild it with 'asag build-dataset'")
    return dsd, manifest, scale


def target(scale: Scale, value) -> float | int:
    """The training label: a class index on label scales, 0..1 on numeric ones."""
    if scale.is_numeric:
        return float(scale.to_unit(value))
    if isinstance(value, str):
        return scale.index(value)
    index = int(value)
    if not 0 <= index < len(scale.labels):
        raise ValueError(f"class index {index} is outside the scale {scale.spec}")
    return index


def value_of(scale: Scale, label) -> float | str:
    """A dataset's score as it sits on the scale (the label name on label scales)."""
    if scale.is_numeric:
        return float(label)
    return label if isinstance(label, str) else scale.labels[int(label)]


def split_rows(dataset) -> list[dict]:
    return [dict(r) for r in dataset]


def validation_split(dsd, fraction: float, seed: int) -> tuple[list[dict], list[dict], str]:
    """(train rows, validation rows, where validation came from): the dataset's validation
    split, or `fraction` of train carved with `seed` (the answers the model never trains on,
    which early stopping, the graded-answer heads and the calibration are fitted on)."""
    if "validation" in dsd and len(dsd["validation"]) > 0:
        rows = split_rows(dsd["train"]), split_rows(dsd["validation"])
        return *rows, "the dataset's validation split"
    if len(dsd["train"]) < 10:
        raise InputError(f"only {len(dsd['train'])} training answers and no validation split",
                         fix="label more answers (10 or more) before training")
    parts = dsd["train"].train_test_split(test_size=fraction, seed=seed)
    return (split_rows(parts["train"]), split_rows(parts["test"]),
            f"{fraction:.0%} of train, seed {seed}")


def trained_split(dsd, training_args: dict | None) -> tuple[list[dict], list[dict], str]:
    """validation_split as a scorer's training made it, from its manifest's "training_args"
    (TrainArgs' defaults for what an older version did not record)."""
    saved = training_args or {}
    return validation_split(dsd, saved.get("validation_fraction", TrainArgs.validation_fraction),
                            saved.get("seed", TrainArgs.seed))
