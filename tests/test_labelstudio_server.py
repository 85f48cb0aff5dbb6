"""The embedded server: loopback only, private credentials, a busy port refused, stray
environment variables kept away from it, and a status that scripts can test."""

from __future__ import annotations

import socket
import stat
import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from ls_server import ls_server, ls_server_each_database  # noqa: F401 - session fixtures

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
    assert not (tmp_path / "ls").exists()  # refused before the data folder and credentials


@pytest.mark.parametrize(("url", "why"), [
    ("mysql://u:p@db/ls", "'mysql' is not supported, only PostgreSQL (leave --database out "
                          "for SQLite in --data-dir)"),
    ("postgresql://db.school/ls", "the user is missing"),
    ("ls:secret@db.school/ls", "'ls' is not supported, only PostgreSQL (leave --database out "
                               "for SQLite in --data-dir)"),
    ("//ls:secret@db.school/ls", "the scheme postgresql:// is missing"),
    ("postgresql://u:p@db.school", "the database name is missing"),
    ("postgresql://u:p@db.school:99999/ls", "not a database URL (Port out of range 0-65535)"),
    ("postgresql://u:p@db.school/ls?sslmode=require",
     "options after '?' are not passed to Label Studio"),
])
def test_a_bad_database_url_is_one_line_and_writes_nothing(tmp_path, url, why):
    result = run("labelstudio", "start", "--data-dir", str(tmp_path / "ls"), "--database", url)
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        f"Error: --database: {why}; write it as postgresql://USER:PASSWORD@HOST:PORT/DATABASE "
        "(percent-encode special characters in the password)")
    assert not (tmp_path / "ls").exists()


def test_an_unreachable_database_is_refused_before_anything_is_written(tmp_path):
    port = server.free_port()  # nothing listens there
    result = run("labelstudio", "start", "--data-dir", str(tmp_path / "ls"), "--port",
                 str(server.free_port()), env={"ASAG_LABEL_STUDIO_DATABASE": f"postgresql://ls:s%40cret@127.0.0.1:{port}/ls"})
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        f"Error: cannot reach PostgreSQL ls@127.0.0.1:{port}/ls (Connection refused); start "
        "PostgreSQL or fix --database")
    assert "s@cret" not in result.output and not (tmp_path / "ls").exists()


def test_the_database_url_becomes_label_studios_own_settings(tmp_path):
    url = "postgresql://ls%20user:p%40ss%3Aw@db.school:6543/label%20studio"
    creds = server.Credentials("http://127.0.0.1:1", 1, "a@b.c", "pw", "tok", url)
    env = server.child_env(server.ServerDir(tmp_path), creds)
    assert {k: v for k, v in env.items() if k.startswith(("DJANGO_DB", "POSTGRE_"))} == {
        "DJANGO_DB": "default", "POSTGRE_NAME": "label studio", "POSTGRE_USER": "ls user",
        "POSTGRE_PASSWORD": "p@ss:w", "POSTGRE_HOST": "db.school", "POSTGRE_PORT": "6543"}
    plain = server.child_env(server.ServerDir(tmp_path), server.Credentials("u", 1, "a", "p", "t"))
    assert "DJANGO_DB" not in plain and "POSTGRE_PASSWORD" not in plain  # SQLite


def test_a_data_dir_keeps_the_database_it_was_made_for(tmp_path):
    made = server.ServerDir(tmp_path / "ls")
    made.create_credentials(server.free_port(), "a@b.c",
                            "postgresql://ls:secret@db.school/ls")
    result = run("labelstudio", "start", "--data-dir", str(tmp_path / "ls"), "--database",
                 "postgresql://ls:secret@db.school/other")
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (
        f"Error: {made.root} was set up for PostgreSQL ls@db.school:5432/ls; leave --database "
        "out to use it, or give another --data-dir for another database")
    status = run("labelstudio", "status", "--data-dir", str(tmp_path / "ls"))
    assert "database PostgreSQL ls@db.school:5432/ls" in status.output
    assert "secret" not in status.output


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
    assert "not running" in result.output and "database SQLite (" in result.output


@pytest.mark.labelstudio
def test_status_names_the_database_and_never_its_password(ls_server_each_database):  # noqa: F811
    srv = ls_server_each_database
    status = run("labelstudio", "status", "--data-dir", str(srv.root))
    assert status.exit_code == 0 and "running (ready)" in status.output
    if srv.database == "postgresql":
        stored = server.local_credentials(srv.root).database
        assert "database PostgreSQL asag@127.0.0.1:" in status.output
        assert server.Database.parse(stored).password not in status.output
    else:
        assert f"database SQLite ({srv.root / 'data' / 'label_studio.sqlite3'})" in status.output


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
    from asag.annotate.connection import login

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
    from asag.annotate.connection import login

    email = f"teacher-{uuid.uuid4().hex[:6]}@school.test"
    made = run("labelstudio", "add-user", email, env=ls_server.cli_env())
    assert made.exit_code == 0, made.output
    password = made.output.split("password ")[1].split()[0]
    session = login(ls_server.url, email, password)
    assert session.get("/api/current-user/whoami").json()["email"] == email
    invite = run("labelstudio", "invite", env=ls_server.cli_env())
    assert invite.output.startswith(f"{ls_server.url}/user/signup/?token=")
