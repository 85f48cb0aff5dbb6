"""The embedded server: loopback only, private credentials, a busy port refused, stray
environment variables kept away from it, and a status that scripts can test."""

from __future__ import annotations

import socket
import stat
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from ls_server import ls_server  # noqa: F401 - the session fixture

from asag.annotate import server
from asag.cli import cli


def run(*args, env=None):
    return CliRunner().invoke(cli, list(args), env=env or {}, catch_exceptions=False)


def test_busy_port_is_refused_with_one_line(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = run("labelstudio", "start", "--data-dir", str(tmp_path / "ls"), "--port",
                     str(port))
    assert result.exit_code == 1
    assert f"port {port} on 127.0.0.1 is already in use" in result.output
    assert len(result.output.strip().splitlines()) == 2  # the status line and the error


def test_stray_variables_do_not_reach_label_studio(monkeypatch, tmp_path):
    for name in ("HOST", "PORT", "USERNAME", "PASSWORD", "USER_TOKEN", "DJANGO_DB",
                 "SENTRY_DSN", "LABEL_STUDIO_PORT", "LABEL_STUDIO_API_KEY"):
        monkeypatch.setenv(name, "stray")
    creds = server.Credentials("http://127.0.0.1:1", 1, "a@b.c", "pw", "tok")
    env = server.child_env(server.ServerDir(tmp_path), creds)
    assert not {"HOST", "PORT", "USERNAME", "PASSWORD", "USER_TOKEN", "DJANGO_DB",
                "LABEL_STUDIO_PORT", "LABEL_STUDIO_API_KEY"} & set(env)
    assert env["SENTRY_DSN"] == "" and env["LATEST_VERSION_CHECK"] == "false"
    assert env["LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN"] == "true"
    assert env["LABEL_STUDIO_BASE_DATA_DIR"] == str(tmp_path.absolute() / "data")


def test_status_of_a_stopped_server_exits_3(tmp_path):
    result = run("labelstudio", "status", "--data-dir", str(tmp_path / "none"))
    assert result.exit_code == 3
    assert "not running" in result.output


@pytest.mark.labelstudio
def test_server_listens_on_loopback_only(ls_server):  # noqa: F811
    listening = _listening_addresses(ls_server.port)
    assert listening == {"127.0.0.1"}


@pytest.mark.labelstudio
def test_credentials_are_private_and_printed_only_when_asked(ls_server):  # noqa: F811
    creds_file = ls_server.root / "credentials.json"
    assert stat.S_IMODE(creds_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(ls_server.root.stat().st_mode) == 0o700
    status = run("labelstudio", "status", "--data-dir", str(ls_server.root))
    assert status.exit_code == 0 and "running (ready)" in status.output
    assert ls_server.token not in status.output
    started = run("labelstudio", "start", "--data-dir", str(ls_server.root))
    assert started.exit_code == 0 and "already running" in started.output
    assert ls_server.token not in started.output and ls_server.password not in started.output
    shown = run("labelstudio", "credentials", "--data-dir", str(ls_server.root))
    assert ls_server.token in shown.output and ls_server.password in shown.output


@pytest.mark.labelstudio
def test_admin_can_log_in_to_the_web_page(ls_server):  # noqa: F811
    from asag.annotate.users import login

    session = login(ls_server.url, ls_server.username, ls_server.password)
    assert session.get("/api/current-user/whoami").json()["email"] == ls_server.username


def _listening_addresses(port: int) -> set[str]:
    """Local addresses with a LISTEN socket on `port`, from /proc/net/tcp{,6}."""
    found = set()
    for name, width in (("tcp", 8), ("tcp6", 32)):
        path = Path("/proc/net") / name
        if not path.exists():
            continue
        for line in path.read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            addr, hexport = local.split(":")
            if state != "0A" or int(hexport, 16) != port:
                continue
            if width == 8:
                found.add(socket.inet_ntoa(bytes.fromhex(addr)[::-1]))
            else:
                found.add("::" if set(addr) == {"0"} else addr)
    return found


@pytest.mark.labelstudio
def test_add_user_makes_an_account_that_can_log_in(ls_server):  # noqa: F811
    from asag.annotate.users import login

    email = f"teacher-{uuid.uuid4().hex[:6]}@school.test"
    made = run("labelstudio", "add-user", email, env=ls_server.cli_env())
    assert made.exit_code == 0, made.output
    password = made.output.split("password ")[1].split()[0]
    session = login(ls_server.url, email, password)
    assert session.get("/api/current-user/whoami").json()["email"] == email
    invite = run("labelstudio", "invite", env=ls_server.cli_env())
    assert invite.output.startswith(f"{ls_server.url}/user/signup/?token=")
