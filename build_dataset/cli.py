"""`asag build-dataset`: teachers' judgements -> a versioned Hugging Face dataset directory.
Only click and light asag modules are imported here; the work happens in build.py."""

from __future__ import annotations

from pathlib import Path

import click

from asag.params import FiniteFloatRange
from asag.scale import SCALE
from asag.tables import RAW_CSV_HELP

POLICIES = ("mean", "median", "majority", "adjudicated")


def _ratios(ctx, param, value):
    from asag.build_dataset.splits import parse_ratios

    try:
        return parse_ratios(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _columns(ctx, param, value):
    return tuple(c.strip() for c in value.split(",") if c.strip()) if value else ()



def aggregation_options(policy_help: str, adjudicator_help: str):
    """--policy, --fallback and --adjudicator: how several teachers' scores become one, the
    same for build-dataset and the gradebook."""
    def decorate(command):
        for option in reversed((
                click.option("--policy", type=click.Choice(POLICIES), default="median",
                             show_default=True, help=policy_help),
                click.option("--fallback", type=click.Choice(POLICIES[:3]), default="median",
                             show_default=True,
                             help="With --policy adjudicated: for answers nobody reviewed."),
                click.option("--adjudicator", default=None, help=adjudicator_help))):
            command = option(command)
        return command
    return decorate

@click.command("build-dataset")
@click.argument("inputs", nargs=-1)
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path),
              help="Dataset directory to write (replaced atomically).")
@click.option("--items", type=click.Path(dir_okay=False, path_type=Path),
              help="Raw answers JSONL from `asag gather`; INPUTS are then annotation JSONL "
                   "files from `asag annotate pull`.")
@click.option("--score-cols", callback=_columns, default="",
              help="Table input: one score column per teacher, e.g. t1,t2 (or 'label').")
@click.option("--annotator-col", default=None,
              help="Table input: one row per teacher; this column names the teacher.")
@click.option("--score-col", default="score", show_default=True,
              help="Table input with --annotator-col: the score column.")
@click.option("--id-col", default=None, help="Table input: answer id column (default: found "
              "by name as in asag gather, e.g. answer_id or id; none: gather's content hash).")
@click.option("--split-col", default="split", show_default=True,
              help="Table input: column holding an explicit split (used when present).")
@click.option("--split-from-filename", is_flag=True,
              help="Table input: take each file's split from its name (3way_test_ua.csv -> "
                   "test_ua); or write FILE:SPLIT.")
@click.option("--scale", type=SCALE, default=None,
              help="Score scale, e.g. 0-5, '0-10 step 0.5', incorrect,partially_correct,correct "
                   "(worst first). Default: the annotation records' own scale.")
@aggregation_options("How several teachers' scores become one.",
                     "Annotator (or score column) whose scores count as ground truth.")
@click.option("--min-annotators", type=click.IntRange(min=1), default=1, show_default=True,
              help="Leave out (and count) answers with fewer scores.")
@click.option("--max-gap", type=FiniteFloatRange(min=0), default=1.0, show_default=True,
              help="List answers whose teachers differ by more (scale points; label steps).")
@click.option("--disagreements", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Disagreement CSV path (default: DIR/disagreements.csv).")
@click.option("--raw-csv", is_flag=True, help=RAW_CSV_HELP)
@click.option("--split-by", type=click.Choice(["answer", "question"]), default="answer",
              show_default=True, help="Unseen answers, or unseen questions (grouped).")
@click.option("--ratios", default="0.8,0.1,0.1", show_default=True, callback=_ratios,
              help="train,validation,test shares for answers without an explicit split.")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Split hash seed; keep it to keep every answer in its split.")
@click.option("--carve-validation", type=FiniteFloatRange(0, 1), default=None,
              help="Share of an explicit train split moved to validation "
                   "[default: 0.1 when the input has no validation split].")
@click.option("--resplit", is_flag=True,
              help="Allow rebuilding DIR with other split settings (answers may move).")
@click.option("--check", "check_dir", type=click.Path(file_okay=False, path_type=Path),
              default=None, help="Check a built dataset instead: overlap, label counts, "
                                 "thin questions, fingerprint. Exit 1 on problems.")
@click.option("--min-question-answers", type=int, default=5, show_default=True,
              help="With --check: flag questions with fewer answers.")
def build_dataset(inputs, output, items, score_cols, annotator_col, score_col, id_col,
                  split_col, split_from_filename, scale, policy, fallback, adjudicator,
                  min_annotators, max_gap, disagreements, raw_csv, split_by, ratios, seed,
                  carve_validation, resplit, check_dir, min_question_answers):
    """Build a Hugging Face dataset from teachers' scores.

    \b
    From Label Studio:  asag build-dataset ann.jsonl --items raw.jsonl -o data/v1
    From a table:       asag build-dataset grades.csv --score-cols t1,t2 --scale 0-5 -o data/v1
    SciEntsBank:        asag build-dataset 3way_*.csv --split-from-filename --score-cols label \\
                          --scale incorrect,contradictory,correct -o data/sb3
    Check:              asag build-dataset --check data/v1
    """
    if check_dir is not None:
        if inputs:
            raise click.UsageError("--check reads a built dataset; give no INPUTS with it")
        return _check(check_dir, min_question_answers)
    if not inputs:
        raise click.UsageError("give annotation JSONL files (with --items) or labelled tables")
    if output is None:
        raise click.UsageError("name the dataset directory with -o/--output")
    from asag.build_dataset import inputs as read
    from asag.build_dataset import table_input
    from asag.build_dataset.build import Options, build
    from asag.console import info

    if items is not None:
        data = read.read_annotations([Path(p) for p in inputs], items, scale, adjudicator)
    else:
        if not score_cols and not annotator_col:
            raise click.UsageError("table input needs --score-cols (a column per teacher) or "
                                   "--annotator-col (a row per teacher); annotation JSONL "
                                   "needs --items")
        sources = table_input.parse_sources(inputs, split_from_filename)
        data = table_input.read_tables(sources, scale, score_cols=score_cols,
                                       annotator_col=annotator_col, score_col=score_col,
                                       id_col=id_col, split_col=split_col,
                                       adjudicator=adjudicator)
    opts = Options(policy=policy, fallback=fallback, min_annotators=min_annotators,
                   max_gap=max_gap, split_by=split_by, seed=seed, ratios=ratios,
                   carve_validation=carve_validation, resplit=resplit)
    manifest = build(data, output, opts, disagreements, raw_csv=raw_csv)
    _summary(manifest, output, info)


def _summary(manifest: dict, output: Path, info) -> None:
    counts, agree = manifest["counts"], manifest["agreement"]["overall"]
    sizes = ", ".join(f"{k} {v}" for k, v in counts["splits"].items())
    info(f"{output}: {counts['answers']} answers ({sizes}); scale {manifest['scale']}, "
         f"policy {manifest['aggregation']['policy']}; fingerprint "
         f"{manifest['fingerprint'][:16]}")
    left = counts["answers_below_min_annotators"]
    if left:
        info(f"left out {left} answers with fewer than "
             f"{manifest['aggregation']['min_annotators']} scores")
    if counts.get("majority_ties"):
        info(f"{counts['majority_ties']} majority ties went to the lower score")
    carve = manifest["split"]["carve_validation"]
    if manifest["split"]["explicit"] and carve:
        info(f"explicit splits honoured; {carve:g} of explicit train moved to validation "
             "(--carve-validation)")
    if agree["answers"]:
        fig = ", ".join(f"{k} {agree[k]:.3f}" if agree[k] is not None else f"{k} n/a"
                        for k in ("qwk", "alpha", "exact", "adjacent"))
        info(f"agreement on {agree['answers']} multiply-scored answers: {fig}; "
             f"{counts['disagreements']} disagreements over {manifest['agreement']['max_gap']}")
    hints = manifest.get("model_hints")
    if hints and hints["shown"]:
        bands = ", ".join(f"{band.replace('_', ' ')} {b['kept']}/{b['shown']}"
                          for band, b in hints["by_band"].items())
        info(f"teachers kept the model's hinted score in {hints['kept']} of {hints['shown']} "
             f"scores ({bands})")


def _check(directory: Path, min_answers: int) -> None:
    from asag.build_dataset.check import check_dataset

    report, problems = check_dataset(directory, min_answers)
    for line in report:
        click.echo(line)
    if problems:
        for line in problems:
            click.echo(f"problem: {line}", err=True)
        raise click.exceptions.Exit(1)
