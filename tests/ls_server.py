"""The real Label Studio server for the tests, started once per test session (a first start
migrates a new SQLite database: ~40 s; a PostgreSQL one ~1-3 min) through asag's own server
code, on a free port of 127.0.0.1 in a temporary data directory. Import it explicitly:
`from ls_server import ls_server` (SQLite, or every test on PostgreSQL with
ASAG_TEST_DATABASE=postgresql), or `ls_server_each_database` (both: the concurrency core).

Label Studio comes from its own virtual environment (the README's set-up makes
.venv-labelstudio); $ASAG_LABEL_STUDIO may point at another label-studio executable."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from asag.annotate import server

REPO = Path(__file__).resolve().parents[1]


@dataclass
class LabelStudioServer:
    root: Path
    url: str
    token: str
    username: str
    password: str
    port: int
    database: str = "sqlite"

    def api(self):
        from asag.annotate.connection import connect

        return connect(self.url, self.token)

    def cli_env(self) -> dict[str, str]:
        """Environment for CliRunner: this server, nothing inherited."""
        return {"LABEL_STUDIO_URL": self.url, "LABEL_STUDIO_API_KEY": self.token}

    def kill(self) -> None:
        """SIGKILL, as a crash would."""
        server.kill(self.root)

    def restart(self) -> None:
        # A SIGKILLed server's socket can outlive it for a moment; start() rightly refuses a
        # busy port, so give the kernel time to release it first.
        deadline = time.monotonic() + 60
        while not server.port_is_free(self.port) and time.monotonic() < deadline:
            time.sleep(0.5)
        server.start(self.root, port=self.port, timeout=600)


def _label_studio_executable() -> str | None:
    for candidate in (os.environ.get(server.LABEL_STUDIO_ENV),
                      str(REPO / ".venv-labelstudio" / "bin" / "label-studio")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


DATABASES = ("sqlite", "postgresql")
# One server per database per session, whichever module asks first. Each test module that
# imports a fixture gets its own definition of it, and pytest finishes a parametrised
# session fixture when its parameter changes, so the servers are kept here and stopped at
# the session's very end (config cleanup), not in fixture teardown.
_started: dict[str, LabelStudioServer] = {}


def _default_database() -> str:
    """ASAG_TEST_DATABASE=postgresql runs every Label Studio test on PostgreSQL."""
    wanted = os.environ.get("ASAG_TEST_DATABASE", "sqlite").lower()
    if wanted not in DATABASES:
        raise pytest.UsageError(f"ASAG_TEST_DATABASE={wanted}: use one of {', '.join(DATABASES)}")
    return wanted


def _server(request, database: str) -> LabelStudioServer:
    if database in _started:
        return _started[database]
    exe = _label_studio_executable()
    if exe is None:
        pytest.skip("Label Studio is not installed (.venv-labelstudio); see the README set-up")
    url = None
    if database == "postgresql":
        from pg_cluster import bin_dir, start_cluster

        if bin_dir() is None:
            pytest.skip("PostgreSQL is not installed (initdb); scripts/setup.sh installs it")
        cluster = start_cluster(server.free_port())
        request.config.add_cleanup(cluster.stop)
        url = cluster.create_database("labelstudio")
    previous = os.environ.get(server.LABEL_STUDIO_ENV)
    os.environ[server.LABEL_STUDIO_ENV] = exe

    def restore() -> None:
        if previous is None:
            os.environ.pop(server.LABEL_STUDIO_ENV, None)
        else:
            os.environ[server.LABEL_STUDIO_ENV] = previous

    request.config.add_cleanup(restore)
    # not under pytest's numbered temporary folders: another pytest session on the machine
    # deletes old ones, pid file included, and the server would outlive this session
    root = Path(tempfile.mkdtemp(prefix=f"asag-labelstudio-{database}-"))
    port = server.free_port()

    def remove() -> None:
        server.stop(root)
        shutil.rmtree(root, ignore_errors=True)

    request.config.add_cleanup(remove)  # before the cluster's (LIFO)
    creds, _ = server.start(root, port=port, timeout=900, database=url)
    _started[database] = LabelStudioServer(root, creds.url, creds.token, creds.username,
                                           creds.password, port, database)
    return _started[database]


@pytest.fixture(scope="session")
def ls_server(request) -> LabelStudioServer:
    """The Label Studio server on SQLite (or on ASAG_TEST_DATABASE)."""
    return _server(request, _default_database())


@pytest.fixture(scope="session", params=DATABASES)
def ls_server_each_database(request) -> LabelStudioServer:
    """The concurrency and round-trip core runs on both databases: one server on SQLite,
    one on a throw-away PostgreSQL cluster (tests/pg_cluster.py)."""
    return _server(request, request.param)


# -- helpers shared by the Label Studio tests ---------------------------------------------

def answer(i: int, student_answer: str | None = None, question_id: str = "q1") -> dict:
    """A raw answer record as `asag gather` writes it."""
    return {
        "id": f"a{i:05d}",
        "question_id": question_id,
        "question": "Why does ice float on water?",
        "reference_answer": "Ice is less dense than liquid water.",
        "student_answer": student_answer or f"Because it is lighter, answer {i}.",
        "source": {"file": "answers.csv", "line": i + 2},
    }


def write_answers(path: Path, records: list[dict]) -> Path:
    import json

    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records),
                    encoding="utf-8")
    return path


def tasks_by_answer(api, project_id: int) -> dict[str, list[int]]:
    """Every task of the project, grouped by answer id, straight from the server."""
    from asag.annotate.push import TaskIndex

    index = TaskIndex(api, {"id": project_id, "task_number": None}, cache_dir=Path("/nonexistent"))
    index.tasks = index._list(after=None)
    return index.by_answer()


def teacher(api, email: str):
    """A new teacher account (made through the invite sign-up) and its logged-in session."""
    from asag.annotate.connection import login
    from asag.annotate.users import create_account

    user, password = create_account(api, email)
    return user, login(api.url, email, password)
