"""The scorer directory: its layout, its manifest, and the one place it is written.

    DIR/config.json, model.safetensors, tokenizer files   the cross-encoder (transformers)
    DIR/embedder/                                          the frozen sentence model  } SEALED_DIRS
    DIR/memory/answers.jsonl, embeddings.safetensors       the graded answers         } (memory.py)
    DIR/asag_scorer.json                                   the manifest (ScorerManifest)
    DIR/README.md, comparison.json, checks.jsonl           for people / train/checks.py: not sealed
    DIR/eval/, checkpoints/, .staging/                     reports, training's checkpoints, the
                                                           next version while it is written

Writers: `save` (training, `--update-from`: a staged folder moved into place, sealed, the
manifest last, so a directory with a manifest is always complete) and `update_calibration`
(`asag calibrate`: the manifest's calibration, which is not sealed). Readers: `read` and
`verify` (Scorer.load). `version` names what a directory holds now."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from asag.errors import InputError
from asag.records import sha256_file

MANIFEST = "asag_scorer.json"
FORMAT_VERSION = 2  # 2: the manifest lists every file with its sha256 ("files")
CHECKPOINTS = "checkpoints"
STAGING = ".staging"
EMBEDDER = "embedder"  # the frozen sentence model (train/memory.py)
MEMORY = "memory"  # the graded answers (train/memory.py)
# sub-folders a scorer loads from: sealed file by file
SEALED_DIRS = (EMBEDDER, MEMORY)
# written beside the model for people, not read when scoring: not sealed
UNSEALED = frozenset({MANIFEST, "README.md", "comparison.json", "checks.jsonl"})
# what transformers may read from a model directory: an added one could mix two scorers
LOADABLE_NAMES = frozenset({
    "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
    "special_tokens_map.json", "added_tokens.json", "vocab.txt", "vocab.json", "merges.txt",
    "model.safetensors.index.json", "chat_template.jinja", "chat_template.json",
    "preprocessor_config.json"})
LOADABLE_SUFFIXES = frozenset({".safetensors", ".bin", ".model", ".tiktoken", ".msgpack", ".h5"})
_FIX = "restore the scorer directory from its source, or retrain"


@dataclass
class ScorerManifest:
    """asag_scorer.json (schemas/scorer_manifest.schema.json). Read back exactly as written:
    keys a later asag adds stay in `extra`, and a key written as null stays null, so the
    version (a hash of the manifest) of an existing directory does not change."""

    scale: str
    template: str
    max_length: int
    format_version: int | None = None  # absent: 1 (before file hashes)
    task: str | None = None
    base_model: str | None = None
    base_model_source: str | None = None
    dataset: dict | None = None
    training_args: dict | None = None
    training: dict | None = None
    metrics: dict | None = None
    memory: dict | None = None
    calibration: dict | None = None
    updated_from: dict | None = None
    files: dict[str, str] | None = None
    extra: dict = field(default_factory=dict)  # keys this version does not know
    _nulls: frozenset = field(default=frozenset(), repr=False, compare=False)

    @classmethod
    def fields(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls) if f.name not in ("extra", "_nulls"))

    @classmethod
    def from_dict(cls, data, *, file: str | Path | None = None) -> ScorerManifest:
        """Validated against the schema; an error names the file and the field."""
        _validate(data, file)
        known = cls.fields()
        return cls(**{k: v for k, v in data.items() if k in known and v is not None},
                   extra={k: v for k, v in data.items() if k not in known},
                   _nulls=frozenset(k for k in known if k in data and data[k] is None))

    def to_dict(self) -> dict:
        """The JSON form: set fields (and those read as null), then the unknown keys."""
        out = {k: getattr(self, k) for k in self.fields()
               if getattr(self, k) is not None or k in self._nulls}
        return {**out, **{k: v for k, v in self.extra.items() if k not in out}}

    @property
    def numeric(self) -> bool:
        return self.task == "regression"


def _validate(data, file) -> None:
    from fastjsonschema import JsonSchemaValueException

    from asag.records import schema, validator

    try:
        validator("scorer_manifest")(data)
    except JsonSchemaValueException as exc:
        required = schema("scorer_manifest")["required"]
        name = exc.path[1] if len(exc.path) > 1 else None
        if not isinstance(data, dict) or exc.rule == "required" or name in required:
            bad = [k for k in required if not isinstance(data, dict) or k not in data
                   or k == name]
            problem = f"{MANIFEST} lacks a valid {', '.join(bad)}"
        else:
            problem = f"{MANIFEST}: {exc.message.removeprefix('data.')}"
        raise InputError(problem, file=None if file is None else str(file), fix=_FIX) from None


def read(path: str | Path) -> ScorerManifest:
    """The manifest of scorer directory `path`, refused in one line when absent or invalid."""
    path = Path(path)
    file = path / MANIFEST
    if not file.is_file():
        raise InputError(f"not an asag scorer directory (no {MANIFEST})", file=str(path),
                         fix="give the -o directory of a finished 'asag train'")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{MANIFEST} is not valid JSON ({exc})", file=str(file),
                         fix=_FIX) from None
    return ScorerManifest.from_dict(data, file=file)


def version(path: str | Path, manifest: ScorerManifest | dict) -> str:
    """The model version predictions, checks and the served model carry: the directory's name
    plus a short hash of its manifest (dataset fingerprint, training settings and run,
    metrics, calibration), so a retraining or a refit into the same folder is told apart."""
    import hashlib

    data = manifest.to_dict() if isinstance(manifest, ScorerManifest) else manifest
    digest = hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode())
    return f"{Path(path).resolve().name}@{digest.hexdigest()[:8]}"


# -- sealing: the manifest's "files" ---------------------------------------------------------

def _scorer_files(directory: Path) -> list[tuple[str, Path]]:
    """(name relative to the directory, path) of every top-level file and every file in the
    scorer's own sub-folders; reports (eval/) and checkpoints are not the scorer's."""
    found = [(p.name, p) for p in directory.iterdir() if p.is_file()]
    for sub in SEALED_DIRS:
        if (directory / sub).is_dir():
            found += [(p.relative_to(directory).as_posix(), p)
                      for p in (directory / sub).rglob("*") if p.is_file()]
    return sorted(found)


def seal(directory: Path) -> dict[str, str]:
    """file name -> sha256 of every file the scorer loads (all top-level files but the
    manifest and the documents, and the files of its sub-folders), for the manifest's
    "files"."""
    return {name: sha256_file(p) for name, p in _scorer_files(directory)
            if name not in UNSEALED}


def verify(directory: Path, manifest: ScorerManifest) -> None:
    """Refuse a damaged or mixed scorer directory, naming the first file that differs from
    what the manifest recorded at training time. Scorers saved before the manifest listed
    its files (format_version 1) load with a warning: they cannot prove they are whole."""
    files = manifest.files
    if files is None and (manifest.format_version or 1) < 2:
        import click

        click.echo(f"warning: {directory} is a scorer saved before asag recorded file hashes, "
                   "so it cannot be checked for damaged or mixed files; retrain it (asag "
                   "train) to get one that is checked", err=True)
        for name in ("config.json", "model.safetensors"):
            if not (directory / name).is_file():
                raise InputError(f"{name} is missing", file=str(directory), fix=_FIX)
        return
    if not isinstance(files, dict) or not files:
        raise InputError(f"{MANIFEST} lists no files with their hashes", file=str(directory),
                         fix=_FIX)
    fix = f"{_FIX}; never mix the files of two scorers"
    for name, digest in sorted(files.items()):
        file = directory / name
        parts = Path(name).parts
        if Path(name).is_absolute() or ".." in parts or (
                len(parts) > 1 and parts[0] not in SEALED_DIRS):
            raise InputError(f"{MANIFEST} names a file outside the directory: {name}",
                             file=str(directory), fix=fix)
        if not file.is_file():
            raise InputError(f"{name} is missing", file=str(directory), fix=fix)
        if sha256_file(file) != digest:
            raise InputError(f"{name} is damaged or comes from another scorer (its sha256 "
                             f"differs from the one in {MANIFEST})", file=str(directory), fix=fix)
    extra = sorted(set(seal_names(directory)) - set(files))
    if extra:
        raise InputError(f"{extra[0]} was not part of this scorer when it was trained",
                         file=str(directory), fix=f"remove it ({fix})")


def seal_names(directory: Path) -> list[str]:
    """Files transformers could read from the directory (so an added one could mix scorers)."""
    return [name for name, p in _scorer_files(directory) if name not in UNSEALED
            and (p.name in LOADABLE_NAMES or p.suffix in LOADABLE_SUFFIXES
                 or "/" in name)]  # anything in the scorer's sub-folders is read


# -- writing ----------------------------------------------------------------------------------

def staging(output_dir: Path) -> Path:
    """The folder the next version is written into (emptied), inside `output_dir`."""
    staged = Path(output_dir) / STAGING
    shutil.rmtree(staged, ignore_errors=True)
    return staged


def stage_copy(source: Path, output_dir: Path) -> Path:
    """A staging folder holding `source`'s scorer files (not its manifest, documents, reports
    or checkpoints), for a version that changes some of them (`--update-from`)."""
    staged = staging(output_dir)
    shutil.copytree(source, staged, ignore=shutil.ignore_patterns(
        CHECKPOINTS, STAGING, "eval", MANIFEST, "comparison.json"))
    return staged


def save(staged: Path, output_dir: Path, manifest: ScorerManifest,
         comparison: dict | None = None) -> None:
    """Move the staged scorer into place: its model card (and comparison), then its files,
    then the seal, the manifest last, so a directory with asag_scorer.json is always
    complete. Trainer's pickled training_args.bin is dropped; a stale loadable file of an
    earlier model in `output_dir` is removed (it would mix in)."""
    from asag.records import atomic_writer
    from asag.train.card import model_card

    manifest.format_version = FORMAT_VERSION
    ScorerManifest.from_dict(manifest.to_dict())  # what the schema refuses is never written
    (staged / "training_args.bin").unlink(missing_ok=True)
    with atomic_writer(staged / "README.md") as fh:
        fh.write(model_card(manifest.to_dict(), comparison))
    if comparison is not None:
        with atomic_writer(staged / "comparison.json") as fh:
            json.dump(comparison, fh, indent=2)
    (output_dir / MANIFEST).unlink(missing_ok=True)
    names = {item.name for item in staged.iterdir()}
    for name in seal_names(output_dir):
        if name.split("/")[0] not in names:  # a sub-folder's file goes with its folder
            (output_dir / name).unlink()
    for item in staged.iterdir():
        target = output_dir / item.name
        if target.is_dir():
            shutil.rmtree(target)
        os.replace(item, target)
    staged.rmdir()
    manifest.files = seal(output_dir)  # Scorer.load checks these: no damaged/mixed scorer
    _write(output_dir, manifest)


def update_calibration(path: str | Path, calibration: dict | None) -> ScorerManifest:
    """Write a refitted calibration into a scorer directory's manifest (atomically; the
    calibration is not sealed, so the files stay as they are)."""
    manifest = read(path)
    manifest.calibration = calibration
    _write(Path(path), manifest)
    return manifest


def _write(directory: Path, manifest: ScorerManifest) -> None:
    from asag.records import atomic_writer

    with atomic_writer(directory / MANIFEST) as fh:
        json.dump(manifest.to_dict(), fh, indent=2, ensure_ascii=False)
