"""`asag gather`: the first step of the loop."""

from __future__ import annotations

from pathlib import Path

import click

from asag.answers import MAX_CHARS
from asag.scale import SCALE
from asag.tables import FORMAT_NAMES


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="JSONL file of raw answer records (schemas/raw_answer.schema.json).")
@click.option("--format", "fmt", type=click.Choice(FORMAT_NAMES),
              help="Source format when the file extension does not tell.")
@click.option("--encoding",
              help="Text encoding of CSV/TSV/JSONL sources, e.g. cp1250 for old Excel exports "
              "[default: UTF-8, else the legacy encoding detected, said on stderr].")
@click.option("--question-col", help="Column holding the question text.")
@click.option("--question-id-col", help="Column holding a question id.")
@click.option("--reference-col", help="Column holding the reference (model) answer.")
@click.option("--answer-col", help="Column holding the student's answer.")
@click.option("--answer-id-col", help="Column holding the source's own answer id.")
@click.option("--score-col", help="Column holding an existing score (legacy gradebook).")
@click.option("--split-col", help="Column holding an explicit train/validation/test split.")
@click.option("--student-col",
              help="Column naming the student (e-mail, username, id) [default: found by name: "
                   "Moodle's 'Email address' / 'Username', Forms' 'Email Address', student, "
                   "student_id, user, email]. Kept in OUTPUT for the gradebook, never sent to "
                   "Label Studio.")
@click.option("--no-student", is_flag=True,
              help="Ignore any student column: answer ids as without one, identical texts "
                   "dropped as duplicates.")
@click.option("--scale", type=SCALE,
              help="Scale the score column must be on: '0-5', '0-10 step 0.5' or 'a,b,c'.")
@click.option("--max-chars", default=MAX_CHARS, show_default=True, type=click.IntRange(min=1),
              help="Longest text accepted in one cell.")
@click.option("--skip-invalid", is_flag=True,
              help="Write bad rows to the --rejects file with the reason and go on.")
@click.option("--rejects", type=click.Path(dir_okay=False, path_type=Path),
              help="Where --skip-invalid writes bad rows [default: OUTPUT.rejected.jsonl].")
def gather(sources, output, fmt, encoding, question_col, question_id_col, reference_col,
           answer_col, answer_id_col, score_col, split_col, student_col, no_student, scale,
           max_chars, skip_invalid, rejects):
    """Read answer exports (CSV, TSV, JSONL, Excel, Moodle 'Responses' report) into one JSONL.

    Text is normalised (Unicode NFC, whitespace) with the original kept; each answer gets a
    stable id (the source's answer id, else a content hash, with the student when a student
    column is found); exact duplicates are dropped (with students: the same student's).

    \b
    Example:
      asag gather responses.csv answers.xlsx -o raw.jsonl --skip-invalid
    """
    from asag.console import info, is_quiet
    from asag.gather import GatherOptions
    from asag.gather import gather as run

    columns = {
        "question": question_col, "question_id": question_id_col,
        "reference_answer": reference_col, "student_answer": answer_col,
        "answer_id": answer_id_col, "score": score_col, "split": split_col,
    }
    if no_student and student_col:
        raise click.UsageError("--no-student and --student-col contradict each other; give one")
    opts = GatherOptions(
        columns={k: v for k, v in columns.items() if v}, format=fmt, encoding=encoding,
        scale=scale, max_chars=max_chars, skip_invalid=skip_invalid,
        student_col="" if no_student else student_col,
    )
    if skip_invalid and rejects is None:
        rejects = output.with_name(output.name + ".rejected.jsonl")
    total = sum(p.stat().st_size for p in sources if p.is_file())
    if is_quiet() or total < (8 << 20):
        stats = run(list(sources), output, opts, rejects=rejects)
    else:
        import sys

        with click.progressbar(length=total, label="gathering", file=sys.stderr) as bar:
            stats = run(list(sources), output, opts, rejects=rejects, progress=bar.update)
    info(stats.summary(output))
    if stats.rejected:
        info(f"{stats.rejected:,} rejected row(s) with reasons in {rejects}")
