"""`asag gather` through the CLI: formats, stable ids, and every kind of bad input."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest
from click.testing import CliRunner

from asag.cli import cli

HEADER = "question,reference_answer,student_answer\n"


def run(*args, cwd: Path | None = None):
    result = CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)
    return result


def records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def write(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def test_scientsbank_train_gathers_4969_records_with_ids_stable_across_reruns_and_shuffles(
    scientsbank, tmp_path
):
    source = scientsbank / "3way_train.csv"
    first = run("gather", source, "-o", tmp_path / "a.jsonl")
    assert first.exit_code == 0, first.output
    a = records(tmp_path / "a.jsonl")
    assert len(a) == 4969
    assert run("gather", source, "-o", tmp_path / "b.jsonl").exit_code == 0
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()

    with source.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    header, body = rows[0], rows[1:]
    random.Random(7).shuffle(body)
    shuffled = tmp_path / "shuffled.csv"
    with shuffled.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([header, *body])
    assert run("gather", shuffled, "-o", tmp_path / "c.jsonl").exit_code == 0
    c = records(tmp_path / "c.jsonl")
    assert sorted(r["id"] for r in a) == sorted(r["id"] for r in c)
    assert {r["id"]: r["student_answer"] for r in a} == {r["id"]: r["student_answer"] for r in c}


def test_content_hash_ids_do_not_depend_on_row_order_or_file(tmp_path):
    rows = ["Q1?,R1,first answer", "Q1?,R1,second answer", "Q2?,R2,third answer"]
    write(tmp_path / "x.csv", HEADER + "\n".join(rows) + "\n")
    write(tmp_path / "y.csv", HEADER + "\n".join(reversed(rows)) + "\n")
    run("gather", tmp_path / "x.csv", "-o", tmp_path / "x.jsonl")
    run("gather", tmp_path / "y.csv", "-o", tmp_path / "y.jsonl")
    x = {r["student_answer"]: r["id"] for r in records(tmp_path / "x.jsonl")}
    y = {r["student_answer"]: r["id"] for r in records(tmp_path / "y.jsonl")}
    assert x == y and len(set(x.values())) == 3
    assert all(i.startswith("h") and len(i) == 17 for i in x.values())


def test_text_is_normalised_and_the_original_kept(tmp_path):
    decomposed = "Mi a vi\u0301z?"  # i + combining acute: NFC makes it one letter, \u00ed
    answer = "  two\u00a0 spaces\n and a newline "
    write(tmp_path / "n.csv", HEADER + f'"{decomposed}",H2O,"{answer}"\n')
    assert run("gather", tmp_path / "n.csv", "-o", tmp_path / "n.jsonl").exit_code == 0
    (rec,) = records(tmp_path / "n.jsonl")
    assert rec["student_answer"] == "two spaces and a newline"
    assert rec["original"]["student_answer"] == "  two\u00a0 spaces\n and a newline "
    assert rec["question"] == "Mi a v\u00edz?"
    assert rec["original"]["question"] == decomposed
    assert "reference_answer" not in rec["original"]


def test_exact_duplicates_are_dropped_and_counted(tmp_path):
    write(tmp_path / "d.csv", HEADER + "Q?,R,same\nQ?,R,same\nQ?,R,  same \nQ?,R,other\n")
    result = run("gather", tmp_path / "d.csv", "-o", tmp_path / "d.jsonl")
    assert len(records(tmp_path / "d.jsonl")) == 2
    assert "wrote 2" in result.output and "2 exact duplicates dropped" in result.output


def test_question_ids_come_from_the_question_text_when_absent(tmp_path):
    write(tmp_path / "q.csv", HEADER + "Same question?,R,a\nSame question?,R,b\nOther?,R,c\n")
    run("gather", tmp_path / "q.csv", "-o", tmp_path / "q.jsonl")
    qids = [r["question_id"] for r in records(tmp_path / "q.jsonl")]
    assert qids[0] == qids[1] != qids[2]


def test_tsv_jsonl_semicolon_csv_and_xlsx_give_the_same_records(tmp_path):
    from openpyxl import Workbook

    rows = [("question_id", "question", "reference", "answer", "grade"),
            ("q1", "What is water?", "H2O", "Hidrogén és oxigén", "4"),
            ("q2", "Why is the sky blue?", "Rayleigh scattering", "scattering", "2.5")]
    write(tmp_path / "a.tsv", "\n".join("\t".join(r) for r in rows) + "\n")
    write(tmp_path / "a.csv", "\n".join(";".join(r) for r in rows) + "\n")
    objects = [dict(zip(rows[0], r, strict=True)) for r in rows[1:]]
    write(tmp_path / "a.jsonl", "\n".join(json.dumps(o) for o in objects))
    book = Workbook()
    sheet = book.active
    for r in rows:
        sheet.append([float(c) if c in ("4", "2.5") else c for c in r])
    book.save(tmp_path / "a.xlsx")
    outputs = []
    for name in ("a.tsv", "a.csv", "a.jsonl", "a.xlsx"):
        result = run("gather", tmp_path / name, "-o", tmp_path / f"{name}.out", "--scale",
                     "0-5 step 0.5")
        assert result.exit_code == 0, result.output
        outputs.append([{k: v for k, v in r.items() if k != "source"}
                        for r in records(tmp_path / f"{name}.out")])
    assert outputs[0] == outputs[1] == outputs[2] == outputs[3]
    assert outputs[0][0]["score"] == 4 and outputs[0][1]["score"] == 2.5
    assert outputs[0][0]["student_answer"] == "Hidrogén és oxigén"


def test_moodle_responses_report_becomes_one_record_per_answered_question(tmp_path):
    write(tmp_path / "moodle.csv",
          "Last name,First name,Email address,Status,Started,Completed,Duration,Grade/10.00,"
          "Question 1,Response 1,Right answer 1,Question 2,Response 2,Right answer 2\n"
          "Kiss,Anna,a@x.hu,Finished,1 May,1 May,5 mins,8.00,"
          "What is H2O?,Water,Water is H2O,Name a noble gas.,Neon,Helium or neon\n"
          "Nagy,Béla,b@x.hu,Finished,1 May,1 May,4 mins,5.00,"
          "What is H2O?,Ice,Water is H2O,Name a noble gas.,-,Helium or neon\n")
    result = run("gather", tmp_path / "moodle.csv", "-o", tmp_path / "m.jsonl")
    assert result.exit_code == 0, result.output
    recs = records(tmp_path / "m.jsonl")
    assert [(r["question"], r["reference_answer"], r["student_answer"]) for r in recs] == [
        ("What is H2O?", "Water is H2O", "Water"),
        ("Name a noble gas.", "Helium or neon", "Neon"),
        ("What is H2O?", "Water is H2O", "Ice"),
    ]
    assert "1 blank Moodle responses skipped" in result.output


def test_column_mapping_options_and_the_config_file(tmp_path, monkeypatch):
    write(tmp_path / "hu.csv", "Feladat,Mintamegoldás,Hallgató válasza\nMi a víz?,H2O,víz\n")
    monkeypatch.chdir(tmp_path)
    missing = run("gather", "hu.csv", "-o", "out.jsonl")
    assert missing.exit_code == 1
    write(tmp_path / "asag.toml", '[gather]\nquestion_col = "Feladat"\n'
          'reference_col = "Mintamegoldás"\nanswer_col = "Hallgató válasza"\n')
    ok = run("gather", "hu.csv", "-o", "out.jsonl")
    assert ok.exit_code == 0, ok.output
    assert records(tmp_path / "out.jsonl")[0]["reference_answer"] == "H2O"
    flag = run("gather", "hu.csv", "-o", "out.jsonl", "--answer-col", "Nincs ilyen")
    assert "no column 'Nincs ilyen' (given with --answer-col)" in flag.output
    write(tmp_path / "asag.toml", "[gather]\nquestoin_col = 'x'\n")
    typo = run("gather", "hu.csv", "-o", "out.jsonl")
    assert typo.exit_code == 1 and "unknown setting 'gather.questoin_col'" in typo.output


# (name, file bytes, extra args, the exact one-line error)
BAD_INPUTS = [
    ("missing file", None, [], "Error: {d}/missing_file.csv: file not found; check the path"),
    ("unknown format", b"a,b\n", [],
     "Error: {d}/unknown_format.docx: unknown format '.docx'; give a .csv, .tsv, .jsonl or .xlsx "
     "file, or name the format with --format"),
    ("missing columns", b"kerdes_szoveg,megjegyzes\nQ?,A\n", [],
     "Error: {d}/missing_columns.csv: missing required column(s) student_answer, question; "
     "columns found: kerdes_szoveg, megjegyzes; name them with --answer-col COLUMN, "
     "--question-col COLUMN"),
    ("empty answer", HEADER.encode() + b"Q?,R,\n", [],
     "Error: {d}/empty_answer.csv:2: column 'student_answer': empty student answer; fill it "
     "in, or drop the row (--skip-invalid writes it aside)"),
    ("not utf8", HEADER.encode() + "Mi a víz?,H2O,víz\n".encode("cp1250"),
     ["--encoding", "utf-8"],
     "Error: {d}/not_utf8.csv:2: not valid utf-8 text (byte 0xed); it looks like cp1250: pass "
     "--encoding cp1250, or re-save the file as UTF-8"),
    ("same column twice", b"question,Answer,reference_answer,answer\nQ?,A,R,B\n", [],
     "Error: {d}/same_column_twice.csv:1: the header names the same column twice: column 2 "
     "('Answer') and column 4 ('answer'); rename or delete one of them"),
    ("ragged row", HEADER.encode() + b"Q?,R,A,extra\n", [],
     "Error: {d}/ragged_row.csv:2: row has 4 fields but the header has 3; check the quoting "
     "and the delimiter of that row"),
    ("huge cell", HEADER.encode() + b"Q?,R," + b"x" * 1_048_576 + b"\n", [],
     "Error: {d}/huge_cell.csv:2: column 'student_answer': cell has 1,048,576 characters, "
     "over the limit of 20,000; shorten it, or raise --max-chars"),
    ("score off scale", b"question,reference_answer,student_answer,score\nQ?,R,A,7\n",
     ["--scale", "0-5"],
     "Error: {d}/score_off_scale.csv:2: column 'score': 7 is outside the scale 0-5; correct "
     "the score, or check --scale"),
    ("unterminated quote", HEADER.encode() + b'Q?,R,"never closed\n', [],
     "Error: {d}/unterminated_quote.csv:2: unreadable CSV (a quoted field that starts on this "
     "line is never closed); check the quotes in that row"),
    ("empty file", b"", [],
     "Error: {d}/empty_file.csv: the file is empty (no header row); export it again with a "
     "header row"),
    ("corrupt jsonl", b'{"question": "Q?", "student_answer": "A"}\n{"question": \n', [],
     "Error: {d}/corrupt_jsonl.jsonl:2: not valid JSON (Expecting value at character 15); "
     "repair or delete that line"),
    ("duplicate answer id", b"answer_id,question,student_answer\n7,Q?,A\n7,Q?,B\n", [],
     "Error: {d}/duplicate_answer_id.csv:3: column 'answer_id': answer id '7' was already "
     "used at {d}/duplicate_answer_id.csv:2 for a different answer; make the ids unique, or "
     "leave out --answer-id-col"),
]


@pytest.mark.parametrize("name,content,args,message", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_gives_one_exact_line_and_no_output(tmp_path, name, content, args, message):
    suffix = {"unknown format": ".docx", "corrupt jsonl": ".jsonl"}.get(name, ".csv")
    path = tmp_path / (name.replace(" ", "_") + suffix)
    if content is not None:
        path.write_bytes(content)
    out = tmp_path / "raw.jsonl"
    out.write_text("previous run\n")
    result = run("gather", path, "-o", out, *args)
    assert result.exit_code == 1
    assert result.output == message.format(d=tmp_path) + "\n"
    assert "Traceback" not in result.output
    assert out.read_text() == "previous run\n"  # nothing lost, nothing half-written
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".raw.jsonl")] == []


def test_skip_invalid_writes_rejected_rows_aside_with_reasons_and_continues(tmp_path):
    write(tmp_path / "mixed.csv", HEADER + "Q?,R,good one\nQ?,R,\nQ?,R,A,extra\nQ?,R,good two\n")
    result = run("gather", tmp_path / "mixed.csv", "-o", tmp_path / "raw.jsonl", "--skip-invalid")
    assert result.exit_code == 0, result.output
    assert [r["student_answer"] for r in records(tmp_path / "raw.jsonl")] == ["good one",
                                                                             "good two"]
    rejected = records(tmp_path / "raw.jsonl.rejected.jsonl")
    assert [(r["line"], r["reason"]) for r in rejected] == [
        (3, "column 'student_answer': empty student answer"),
        (4, "row has 4 fields but the header has 3"),
    ]
    assert "2 rejected" in result.output


def test_html_and_script_text_is_kept_verbatim_and_a_bom_is_dropped(tmp_path):
    answer = '<script>alert("x")</script> <b>bold</b> &amp; 1 < 2'
    quoted = answer.replace('"', '""')
    path = write(tmp_path / "h.csv", "\ufeff" + HEADER + f'Q?,R,"{quoted}"\n')
    assert run("gather", path, "-o", tmp_path / "h.jsonl").exit_code == 0
    (rec,) = records(tmp_path / "h.jsonl")
    assert rec["student_answer"] == answer and rec["question"] == "Q?"


def test_encoding_option_reads_legacy_excel_exports(tmp_path):
    path = write(tmp_path / "l.csv", (HEADER + "Mi a víz?,H2O,Hidrogén-oxid\n").encode("cp1250"))
    assert run("gather", path, "-o", tmp_path / "l.jsonl", "--encoding", "cp1250").exit_code == 0
    assert records(tmp_path / "l.jsonl")[0]["student_answer"] == "Hidrogén-oxid"


def test_a_legacy_encoding_is_detected_and_named(tmp_path):
    text = (HEADER + "Mi a fotoszintézis?,A növények fényből cukrot állítanak elő.,"
            "Fényből és szén-dioxidból cukor lesz; ő és ű is.\n")
    path = write(tmp_path / "hu.csv", text.encode("cp1250"))
    result = CliRunner().invoke(cli, ["gather", str(path), "-o", str(tmp_path / "hu.jsonl")])
    assert result.exit_code == 0, result.output
    assert f"{path}: not UTF-8; read as cp1250 (detected; pass --encoding" in result.output
    (rec,) = records(tmp_path / "hu.jsonl")
    assert rec["student_answer"] == "Fényből és szén-dioxidból cukor lesz; ő és ű is."


def test_decimal_commas_in_scores_are_numbers(tmp_path):
    path = write(tmp_path / "s.csv", "kérdés;válasz;pontszám\nMi a víz?;H2O;2,5\nMi a víz?;víz;3\n")
    assert run("gather", path, "-o", tmp_path / "a.jsonl").exit_code == 0
    assert [r["score"] for r in records(tmp_path / "a.jsonl")] == [2.5, 3]
    assert run("gather", path, "-o", tmp_path / "b.jsonl", "--scale", "0-5 step 0.5").exit_code == 0
    assert [r["score"] for r in records(tmp_path / "b.jsonl")] == [2.5, 3]
