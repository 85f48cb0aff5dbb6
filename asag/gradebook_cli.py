"""`asag gradebook`: the course's grades, one row per student answer (asag/gradebook.py)."""

from __future__ import annotations

from pathlib import Path

import click

from asag.build_dataset.cli import aggregation_options
from asag.params import FiniteFloatRange
from asag.scale import SCALE
from asag.tables import RAW_CSV_HELP


@click.command("gradebook")
@click.argument("annotations", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--items", type=click.Path(dir_okay=False, path_type=Path),
              help="Raw answers JSONL from `asag gather` (with its student column): every "
                   "answer listed.")
@click.option("--dataset", type=click.Path(file_okay=False, path_type=Path),
              help="A built dataset as the teachers' scores (aggregated as it was built), "
                   "instead of ANNOTATIONS.")
@click.option("--model", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Scorer that scores the answers no teacher has scored.")
@click.option("--max-error", type=FiniteFloatRange(0, 1, min_open=True, max_open=True),
              default=None, metavar="RATE",
              help="With --model: answers whose score the scorer holds at an error rate <= "
                   "RATE are 'auto', the rest 'needs_teacher' (calibrated scorers).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Gradebook: .csv, .tsv, .xlsx or .jsonl.")
@click.option("--summary", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Per-question summary [default: OUTPUT's name + .summary, same format].")
@click.option("--scale", type=SCALE, default=None,
              help="Score scale [default: the annotation records', else the scorer's].")
@aggregation_options("How several teachers' scores become one (as in build-dataset).",
                     "Annotator whose scores count as ground truth.")
@click.option("--min-annotators", type=click.IntRange(min=1), default=1, show_default=True,
              help="Teachers' scores an answer needs to be final; fewer: needs_teacher.")
@click.option("--batch-size", type=click.IntRange(1), default=32, show_default=True)
@click.option("--raw-csv", is_flag=True, help=RAW_CSV_HELP)
def gradebook(annotations, items, dataset, model, max_error, output, summary, scale, policy,
              fallback, adjudicator, min_annotators, batch_size, raw_csv):
    """One row per student answer with its final score and where it came from.

    Sources: 'teachers' (their scores, aggregated as build-dataset does), 'auto' (the
    scorer's, where --max-error trusts it) or 'needs_teacher' (still open; with --model the
    scorer's suggestion is in model_score). Two students who wrote the same text are two
    rows. A summary per question (scored by teachers, auto-scored, open) is printed and
    written beside OUTPUT.

    \b
    From a project:  asag gradebook ann.jsonl --items raw.jsonl --model models/v2 \\
                       --max-error 0.05 -o grades.xlsx
    From a dataset:  asag gradebook --dataset data/v2 --items raw.jsonl -o grades.csv
    """
    from asag import gradebook as gb
    from asag.console import info

    if max_error is not None and model is None:
        raise click.UsageError("--max-error needs --model (the scorer whose error it holds)")
    if dataset is not None and annotations:
        raise click.UsageError("give ANNOTATIONS or --dataset as the teachers' scores, not both")
    if dataset is None and items is None:
        raise click.UsageError("name the answers with --items RAW.jsonl (from asag gather), "
                               "or give --dataset DIR")
    summary = summary or gb.summary_path(output)
    for path in (output, summary):
        gb.output_format(path)  # a wrong extension fails before any work
        if any(path.resolve() == Path(given).resolve() for given in (*annotations, items)
               if given is not None):
            raise click.BadParameter(f"{path} is also an input; write the gradebook to "
                                     "another file", param_hint="'-o' / '--output'")
    opts = gb.Options(scale=scale, policy=policy, fallback=fallback, adjudicator=adjudicator,
                      min_annotators=min_annotators, model=model, max_error=max_error,
                      batch_size=batch_size)
    try:
        book = gb.build(items, list(annotations), opts, dataset=dataset)
        per_question = book.summary()
        gb.write(output, gb.COLUMNS, book.rows, raw=raw_csv)
        gb.write(summary, gb.SUMMARY_COLUMNS, per_question, raw=raw_csv)
    except KeyboardInterrupt:  # outputs are replaced whole or not at all
        from asag.errors import Interrupted

        raise Interrupted(f"interrupted: {output} is as it was before this run (it is written "
                          "only when complete); run the same command again") from None
    click.echo(gb.summary_table(per_question))
    for note in book.notes:
        info(note)
    total = per_question[-1]
    info(f"{total['answers']:,} answers -> {output}: {total[gb.TEACHERS]:,} scored by teachers, "
         f"{total[gb.AUTO]:,} auto-scored, {total[gb.NEEDS_TEACHER]:,} need a teacher; "
         f"summary -> {summary}")
