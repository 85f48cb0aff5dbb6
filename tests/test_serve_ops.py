"""`asag serve` as it is run: two tokens (the server's, and Label Studio's low-privilege one,
which never opens /reload), the port refusing connections while the model loads, a bad
--host named as such, no warning on loopback addresses, and torch's threads chosen for a
shared CPU. Real HTTP against the real app or the real command."""
# ruff: noqa: F811  (pytest fixtures imported from tests/model_fixtures.py)

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest
from click.testing import CliRunner

from asag.cli import cli
from tests.model_fixtures import (  # noqa: F401  (fixtures)
    tiny_base,
    trained_scorer,
    yes_no_dir,
)
from tests.serve_helpers import running

TOKEN = "the-servers-own-token"
ANSWER = {"question": "Is ice lighter than water?", "reference_answer": "yes",
          "student_answer": "yes it floats"}
ASAG = os.path.join(os.path.dirname(sys.executable), "asag")


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def two_tokens(trained_scorer):
    from asag.serve.app import Settings, create_app
    from asag.tokens import labelstudio_token

    ls_token = labelstudio_token(TOKEN)
    app = create_app(Settings(model_dir=trained_scorer, token=TOKEN, labelstudio_token=ls_token))
    with running(app) as url:
        yield url, ls_token


def test_label_studios_token_opens_only_what_label_studio_calls(two_tokens):
    url, ls_token = two_tokens
    config = ('<View><Text name="student_answer" value="$student_answer"/><Choices name="score" '
              'toName="student_answer"><Choice value="incorrect"/><Choice value="correct"/>'
              '</Choices></View>')
    task = {"id": 1, "data": {"question": "q?", "reference_answer": "r", "student_answer": "s"}}
    for auth in (bearer(ls_token), {}):  # bearer, and HTTP Basic as Label Studio sends it
        kw = {"headers": auth} if auth else {"auth": ("labelstudio", ls_token)}
        assert httpx.post(f"{url}/setup", json={"schema": config}, **kw).status_code == 200
        assert httpx.post(f"{url}/predict", json={"tasks": [task], "label_config": config},
                          **kw).status_code == 200
        assert httpx.post(f"{url}/webhook", json={"action": "PROJECT_UPDATED"},
                          **kw).status_code in (200, 201)
    for method, path, body in (("POST", "/reload", None), ("POST", "/score", [ANSWER]),
                               ("GET", "/model", None)):
        reply = httpx.request(method, f"{url}{path}", json=body, headers=bearer(ls_token))
        assert reply.status_code == 403, (path, reply.text)
        assert reply.json()["error"].startswith("this is Label Studio's token: it opens only")
        assert f"{path} needs the server's own token" in reply.json()["error"]


def test_the_servers_token_opens_every_route_and_no_token_opens_none(two_tokens):
    url, _ = two_tokens
    assert httpx.post(f"{url}/score", json=[ANSWER], headers=bearer(TOKEN)).status_code == 200
    assert httpx.post(f"{url}/setup", json={}, headers=bearer(TOKEN)).status_code == 200
    assert httpx.get(f"{url}/model", headers=bearer(TOKEN)).status_code == 200
    for path in ("/score", "/setup", "/predict", "/webhook", "/reload"):
        reply = httpx.post(f"{url}{path}", json={}, headers=bearer("guess"))
        assert reply.status_code == 401 and "missing or wrong token" in reply.json()["error"]
    assert httpx.get(f"{url}/health").status_code == 200  # Label Studio's liveness check


def test_label_studios_token_is_derived_one_way_and_differs_from_the_servers():
    from asag.tokens import labelstudio_token

    derived = labelstudio_token(TOKEN)
    assert derived == labelstudio_token(TOKEN) != labelstudio_token(TOKEN + "x")
    assert TOKEN not in derived and derived.startswith("ls-")


def test_a_label_studio_token_equal_to_the_servers_is_refused_in_one_line(tmp_path,
                                                                          trained_scorer):
    (tmp_path / "t").write_text(TOKEN)
    result = CliRunner().invoke(cli, ["serve", str(trained_scorer), "--token-file",
                                      str(tmp_path / "t"), "--labelstudio-token-file",
                                      str(tmp_path / "t")])
    assert result.exit_code == 2
    assert "is the server's own token" in result.output


@pytest.mark.parametrize("host", ["bad host!", "no-such-host.invalid"])
def test_a_bad_host_is_named_as_the_problem_not_the_port(trained_scorer, host):
    result = CliRunner().invoke(cli, ["serve", str(trained_scorer), "--host", host])
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: --host {host!r} is not a valid address or a "
                                    "known host name (")
    assert len(result.output.strip().splitlines()) == 1 and "--port" not in result.output


def test_loopback_addresses_are_recognised():
    from asag.serve.cli import is_loopback

    assert all(is_loopback(a) for a in ("127.0.0.1", "127.0.0.2", "127.255.0.9", "::1"))
    assert not any(is_loopback(a) for a in ("0.0.0.0", "::", "10.0.0.1", "192.168.1.5"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_port_refuses_connections_while_the_model_loads_then_serves(trained_scorer):
    """Bound early (a busy port is an error at once), listening only once the model is
    loaded: a client during the load is refused at once instead of hanging. 127.0.0.2 is
    loopback too: no "anyone can reach it" warning."""
    port = _free_port()
    proc = subprocess.Popen([ASAG, "serve", str(trained_scorer), "--host", "127.0.0.2",
                             "--port", str(port)], stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "ASAG_SERVE_TOKEN": ""})
    refused_while_bound = 0
    try:
        lines = []
        os.set_blocking(proc.stderr.fileno(), False)
        deadline = time.monotonic() + 300
        while not any("serving" in line for line in lines):
            assert proc.poll() is None, "".join(lines) + proc.stderr.read()
            assert time.monotonic() < deadline, "the server did not start"
            lines += proc.stderr.readlines()
            try:
                reply = httpx.get(f"http://127.0.0.2:{port}/health", timeout=5)
                assert reply.status_code == 200  # listening: it answers at once
            except httpx.ConnectError:  # refused, at once: nothing hangs
                probe = socket.socket()  # no SO_REUSEADDR: fails while asag serve holds it
                try:
                    probe.bind(("127.0.0.2", port))
                except OSError:
                    refused_while_bound += 1
                finally:
                    probe.close()
            time.sleep(0.05)
        assert httpx.get(f"http://127.0.0.2:{port}/health").json()["status"] == "UP"
    finally:
        proc.send_signal(signal.SIGTERM)
        _, rest = proc.communicate(timeout=60)
    said = "".join(lines) + rest
    assert refused_while_bound > 0, "the port was never seen bound and refusing"
    assert "warning" not in said and "Traceback" not in said, said


@pytest.mark.parametrize(("given", "expected"), [(None, "auto"), ("1", 1), ("0", 0)])
def test_asag_score_passes_threads_to_the_scorer(tmp_path, monkeypatch, given, expected):
    import asag.train.scoring as scoring
    from asag.errors import InputError

    seen = {}

    def score_table(*args, **options):  # a unit test of the option: no scoring
        seen.update(options)
        raise InputError("stopped by the test")

    monkeypatch.setattr(scoring, "score_table", score_table)
    (tmp_path / "in.csv").write_text("question,reference_answer,student_answer\nq,r,a\n")
    (tmp_path / "m").mkdir()
    args = ["score", str(tmp_path / "m"), str(tmp_path / "in.csv"), "-o", str(tmp_path / "o.csv")]
    result = CliRunner().invoke(cli, args + (["--threads", given] if given else []))
    assert "stopped by the test" in result.output
    assert seen["threads"] == expected


def test_scorer_load_sets_half_the_cores_by_default_and_leaves_torch_alone_on_none(
        trained_scorer):
    import torch

    from asag.train.scorer import Scorer, default_threads

    cores = len(os.sched_getaffinity(0))
    assert default_threads() == max(1, cores // 2)
    before = torch.get_num_threads()
    try:
        Scorer.load(trained_scorer, threads=3)
        assert torch.get_num_threads() == 3
        Scorer.load(trained_scorer, threads=None)
        assert torch.get_num_threads() == 3
        Scorer.load(trained_scorer)
        assert torch.get_num_threads() == default_threads()
    finally:
        torch.set_num_threads(before)
