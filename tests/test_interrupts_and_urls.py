"""Ctrl-C in `train` names the command that continues; a Label Studio URL without a scheme
means http://, and a URL or key that cannot work is one line."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from asag.annotate.connection import normalise_url
from asag.cli import cli


@pytest.mark.parametrize(("given", "used"), [
    ("127.0.0.1:8080", "http://127.0.0.1:8080"),
    ("localhost:8080/", "http://localhost:8080"),
    ("https://ls.example.org/", "https://ls.example.org"),
    (" http://127.0.0.1:8080 ", "http://127.0.0.1:8080"),
])
def test_url_without_scheme_means_http(given, used):
    assert normalise_url(given) == used


def test_url_without_scheme_reaches_the_server_it_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["annotate", "--url", "127.0.0.1:9", "--api-key", "k",
                                      "pull", "--project", "p", "-o", "o.jsonl"])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        "Error: cannot reach Label Studio at http://127.0.0.1:9 ([Errno 111] Connection "
        "refused); start it with `asag labelstudio start` or fix --url / LABEL_STUDIO_URL"]


@pytest.mark.parametrize(("url", "why"), [
    ("ftp://x", "is not an http(s) URL"), ("http://", "is not an http(s) URL"),
    ("http://127.0.0.1:port", "is not a URL (Port could not be cast to integer value as "
                              "'port')")])
def test_unusable_url_is_one_line(url, why, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["annotate", "--url", url, "--api-key", "k", "pull",
                                      "--project", "p", "-o", "o.jsonl"])
    assert result.exit_code == 2  # a usage error: the command's usage line, then this
    assert result.output.strip().splitlines()[-1] == (
        f"Error: Invalid value for --url / LABEL_STUDIO_URL: '{url}' {why}; e.g. "
        "http://127.0.0.1:8080")


def test_a_key_without_a_url_is_a_usage_error_naming_both(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no embedded server here to take the URL from
    result = CliRunner().invoke(cli, ["annotate", "--api-key", "k", "pull", "--project", "p",
                                      "-o", "o.jsonl"])
    assert result.exit_code == 2 and result.output.startswith("Usage: cli annotate pull")
    assert result.output.strip().splitlines()[-1] == (
        "Error: --api-key / LABEL_STUDIO_API_KEY is set but not --url / LABEL_STUDIO_URL; set "
        "the server's address too")


def _train_interrupted(tmp_path, monkeypatch, checkpoint: bool):
    import asag.train.training as training

    def interrupted(*args, **kwargs):
        if checkpoint:
            (tmp_path / "m" / "checkpoints" / "checkpoint-10").mkdir(parents=True)
        raise KeyboardInterrupt

    monkeypatch.setattr(training, "train", interrupted)
    return CliRunner().invoke(cli, ["train", str(tmp_path), "-o", str(tmp_path / "m")])


def test_ctrl_c_in_train_names_the_resume_that_continues(tmp_path, monkeypatch):
    result = _train_interrupted(tmp_path, monkeypatch, checkpoint=True)
    assert result.exit_code == 130
    assert result.output.strip().splitlines() == [
        f"Error: training interrupted; checkpoints are kept in {tmp_path / 'm' / 'checkpoints'}"
        ": run the same command with --resume to continue from the last one"]


def test_ctrl_c_before_the_first_checkpoint_says_to_start_over(tmp_path, monkeypatch):
    result = _train_interrupted(tmp_path, monkeypatch, checkpoint=False)
    assert result.exit_code == 130
    assert result.output.strip().splitlines() == [
        "Error: training interrupted before its first checkpoint (saved at each evaluation); "
        "run the same command again to start over"]
