"""The data contracts execute: a built dataset's Features come from
schemas/dataset_row.schema.json and every row conforms to it."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from asag.cli import cli
from asag.records import schema, validator


def build(tmp_path, scale: str, scores: list[str], ok: bool = True):
    table = tmp_path / "grades.csv"
    table.write_text("question,reference_answer,student_answer,t1,t2\n" + "".join(
        f"Q{i % 2}?,R,answer {i},{s},{s}\n" for i, s in enumerate(scores)), encoding="utf-8")
    out = tmp_path / "ds"
    result = CliRunner().invoke(cli, ["--quiet", "build-dataset", str(table), "--score-cols",
                                      "t1,t2", "--scale", scale, "-o", str(out), "--ratios",
                                      "1,0,0"])
    if ok:
        assert result.exit_code == 0, result.output
    return out, result


@pytest.mark.parametrize("scale,scores", [("0-5 step 0.5", ["0", "2,5", "5", "3"]),
                                          ("incorrect,correct", ["correct", "incorrect"])])
def test_built_rows_follow_the_dataset_row_schema(tmp_path, scale, scores):
    from datasets import load_from_disk

    row_schema = schema("dataset_row")
    train = load_from_disk(str(build(tmp_path, scale, scores)[0]))["train"]
    assert list(train.features) == row_schema["required"]
    check = validator("dataset_row")
    for row in train:
        check(row)


def test_a_row_off_the_schema_stops_the_build(tmp_path, monkeypatch):
    from asag.build_dataset import output

    strict = {**output.ROW, "properties": {**output.ROW["properties"],
                                           "student_answer": {"type": "string",
                                                              "minLength": 100}}}
    monkeypatch.setattr(output, "ROW", strict)
    out, result = build(tmp_path, "0-5", ["1", "2"], ok=False)
    assert isinstance(result.exception, AssertionError)
    assert "student_answer shorter than 100 characters breaks schemas/dataset_row" in str(
        result.exception)
    assert not out.exists()


def test_cards_are_huggingface_hub_cards(tmp_path):
    """The dataset card parses as a DatasetCard whose metadata names the features and the
    Parquet configs; the model card as a ModelCard."""
    from huggingface_hub import DatasetCard, ModelCard

    from asag.train.card import model_card

    out, _ = build(tmp_path, "0-5", ["1", "2", "3"])
    card = DatasetCard.load(out / "README.md")
    info = card.data.to_dict()
    assert [f["name"] for f in info["dataset_info"]["features"]] == schema("dataset_row")[
        "required"]
    assert info["configs"][0]["data_files"] == [{"split": "train",
                                                 "path": "parquet/train.parquet"}]
    assert info["asag"]["scale"] == "0-5"
    manifest = {"scale": "0-5", "base_model": "base", "template": "{question}",
                "max_length": 8, "metrics": {},
                "dataset": {"fingerprint": "sha256:x", "validation_source": "split",
                            "counts": {"train": 1, "validation": 1, "test": 1}},
                "training": {"steps": 1, "epochs_run": 1, "seconds": 1, "processes": 1}}
    data = ModelCard(model_card(manifest)).data.to_dict()
    assert data["base_model"] == "base" and data["library_name"] == "transformers"
