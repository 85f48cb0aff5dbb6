"""The embedded Label Studio server: one per working directory, bound to 127.0.0.1, SQLite (or
a department's PostgreSQL, `--database postgresql://...`) and logs in a data directory, an admin
password and API token generated once and kept 0600.

Facts that shape this module (label-studio 1.23.2): a token given through
`LABEL_STUDIO_USER_TOKEN` only works if legacy tokens are enabled when the organisation is
created (the very first start); a busy port makes Label Studio move silently to the next one,
so the port is checked here first; Label Studio reads unprefixed `HOST`, `PORT`, `USERNAME`...
from the environment, so the child gets a clean environment built from scratch."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from asag.annotate.connection import health, token_works
from asag.errors import LabelStudioError
from asag.records import atomic_writer

DEFAULT_DATA_DIR = Path(".asag") / "labelstudio"
DEFAULT_PORT = 8080
DEFAULT_USERNAME = "admin@asag.local"
HOST = "127.0.0.1"
LABEL_STUDIO_ENV = "ASAG_LABEL_STUDIO"  # path of the label-studio executable, if not found
DATABASE_ENV = "ASAG_LABEL_STUDIO_DATABASE"  # postgresql://user:password@host:port/name
INSTALL_HINT = (
    "install it in its own environment: python3 -m venv .venv-labelstudio && "
    ".venv-labelstudio/bin/pip install label-studio==1.23.2 (or set ASAG_LABEL_STUDIO to "
    "the label-studio executable)"
)
# Only these survive from the caller's environment; everything else (HOST, PORT, USERNAME,
# DJANGO_DB, SENTRY_DSN, a stray LABEL_STUDIO_* ...) would change Label Studio's behaviour.
_KEEP_ENV = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "SSL_CERT_FILE")


@dataclass(frozen=True)
class Credentials:
    url: str
    port: int
    username: str
    password: str
    token: str
    database: str | None = None  # a postgresql:// URL (with its password); None: SQLite


@dataclass(frozen=True)
class Database:
    """A PostgreSQL database for Label Studio, from a URL; `env` is Label Studio's own
    settings for it (DJANGO_DB=default selects its PostgreSQL entry, POSTGRE_* fill it)."""

    user: str
    password: str
    host: str
    port: int
    name: str

    @classmethod
    def parse(cls, url: str, source: str = "--database") -> Database:
        def bad(why: str) -> LabelStudioError:
            return LabelStudioError(
                f"{source}: {why}; write it as postgresql://USER:PASSWORD@HOST:PORT/DATABASE "
                "(percent-encode special characters in the password)")

        try:
            parts = urlsplit(url.strip())
            port = parts.port or 5432
        except ValueError as exc:
            raise bad(f"not a database URL ({exc})") from None
        if not parts.scheme:
            raise bad("the scheme postgresql:// is missing")  # the text may hold a password
        if parts.scheme not in ("postgresql", "postgres"):
            raise bad(f"'{parts.scheme}' is not supported, only PostgreSQL "
                      "(leave --database out for SQLite in --data-dir)")
        name = unquote(parts.path.lstrip("/"))
        if not parts.hostname or not parts.username or not name or "/" in name:
            missing = ("the host" if not parts.hostname else "the user" if not parts.username
                       else "the database name")
            raise bad(f"{missing} is missing")
        if parts.query or parts.fragment:
            raise bad("options after '?' are not passed to Label Studio")
        return cls(unquote(parts.username), unquote(parts.password or ""), parts.hostname,
                   port, name)

    def env(self) -> dict[str, str]:
        return {"DJANGO_DB": "default", "POSTGRE_NAME": self.name, "POSTGRE_USER": self.user,
                "POSTGRE_PASSWORD": self.password, "POSTGRE_HOST": self.host,
                "POSTGRE_PORT": str(self.port)}

    def describe(self) -> str:
        """For messages and `status`: never the password."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"PostgreSQL {self.user}@{host}:{self.port}/{self.name}"

    def reachable(self, timeout: float = 5.0) -> str | None:
        """None when something accepts connections at host:port, else why not."""
        try:
            with socket.create_connection((self.host, self.port), timeout=timeout):
                return None
        except OSError as exc:
            return exc.strerror or str(exc)


class ServerDir:
    """The files of one embedded server inside its data directory."""

    def __init__(self, root: str | os.PathLike = DEFAULT_DATA_DIR) -> None:
        self.root = Path(root).absolute()
        self.data = self.root / "data"  # Label Studio's own base data dir (SQLite, media)
        self.credentials_file = self.root / "credentials.json"
        self.pid_file = self.root / "server.pid"
        self.log_file = self.root / "server.log"

    # -- credentials (0600) -------------------------------------------------------------
    def credentials(self) -> Credentials | None:
        if not self.credentials_file.is_file():
            return None
        try:
            raw = json.loads(self.credentials_file.read_text(encoding="utf-8"))
            return Credentials(**raw)
        except (ValueError, TypeError) as exc:
            raise LabelStudioError(
                f"{self.credentials_file}: unreadable ({exc}); delete the directory {self.root} "
                "to start over with a new server (its projects are lost)"
            ) from None

    def create_credentials(self, port: int, username: str,
                           database: str | None = None) -> Credentials:
        creds = Credentials(
            url=f"http://{HOST}:{port}",
            port=port,
            username=username,
            password=secrets.token_urlsafe(12),
            token=secrets.token_hex(20),
            database=database,
        )
        self.save_credentials(creds)
        return creds

    def save_credentials(self, creds: Credentials) -> None:
        raw = {k: v for k, v in creds.__dict__.items() if k != "database" or v is not None}
        self._write_private(self.credentials_file, json.dumps(raw, indent=2) + "\n")

    def _write_private(self, path: Path, text: str) -> None:
        """Write a file that only the owner can read, atomically."""
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        with atomic_writer(path, private=True) as fh:
            fh.write(text)

    # -- process ----------------------------------------------------------------------
    def pid(self) -> int | None:
        """The server's pid if it is alive (a stale pid file is ignored)."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid
        if _is_zombie(pid):
            return None
        return pid


def _is_zombie(pid: int) -> bool:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, IndexError):
        return False
    return fields[0] == "Z"


def find_label_studio() -> str:
    """The label-studio executable: $ASAG_LABEL_STUDIO, .venv-labelstudio in the working
    directory or in the asag checkout (an editable install), then PATH."""
    explicit = os.environ.get(LABEL_STUDIO_ENV)
    if explicit:
        if not os.access(explicit, os.X_OK):
            raise LabelStudioError(
                f"{LABEL_STUDIO_ENV}={explicit} is not an executable; point it at "
                ".../bin/label-studio or unset it"
            )
        return explicit
    checkout = Path(__file__).resolve().parents[1]
    for base in (Path.cwd(), checkout):
        here = base / ".venv-labelstudio" / "bin" / "label-studio"
        if os.access(here, os.X_OK):
            return str(here)
    found = shutil.which("label-studio")
    if found:
        return found
    raise LabelStudioError(f"Label Studio is not installed; {INSTALL_HINT}")


def port_is_free(port: int, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # as Django's server does: connections of a killed server in TIME_WAIT do not count
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    # something listening there without SO_REUSEADDR conflicts is caught by connecting too
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex((host, port)) != 0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def child_env(server: ServerDir, creds: Credentials) -> dict[str, str]:
    """A clean environment: first-start user and token, legacy tokens on, no outbound calls,
    and the database (SQLite in the data directory unless the credentials name PostgreSQL)."""
    env = {k: os.environ[k] for k in _KEEP_ENV if k in os.environ}
    env.update(
        HOME=str(server.root),
        PYTHONUNBUFFERED="1",
        LABEL_STUDIO_BASE_DATA_DIR=str(server.data),
        LABEL_STUDIO_USERNAME=creds.username,
        LABEL_STUDIO_PASSWORD=creds.password,
        LABEL_STUDIO_USER_TOKEN=creds.token,
        LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN="true",
        LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK="true",
        LATEST_VERSION_CHECK="false",
        # 1.20 and older ignore LATEST_VERSION_CHECK and ask PyPI at start-up unless
        # they think they run under uwsgi (APP_WEBSERVER is read nowhere else)
        APP_WEBSERVER="uwsgi",
        COLLECT_ANALYTICS="false",
        SENTRY_DSN="",
        FRONTEND_SENTRY_DSN="",
        # a model server on this machine (issue 6) must be reachable from Label Studio
        ML_BLOCK_LOCAL_IP="false",
        SSRF_PROTECTION_ENABLED="false",
    )
    if creds.database:
        env.update(Database.parse(creds.database, "the stored database URL").env())
    return env


def start(
    root: str | os.PathLike = DEFAULT_DATA_DIR,
    *,
    port: int | None = None,
    username: str = DEFAULT_USERNAME,
    timeout: float = 300.0,
    database: str | None = None,
) -> tuple[Credentials, bool]:
    """Start the server (or find it running); returns (credentials, started_now).

    The first start creates the admin user with a generated password and token; later
    starts reuse them (and the port and database they were made for, unless `port` says
    otherwise). Every check runs before anything is written: a refused start leaves no
    data directory behind. `database` (a postgresql:// URL) is fixed at the first start:
    the token lives in that database."""
    server = ServerDir(root)
    db = Database.parse(database) if database else None
    creds = server.credentials()
    pid = server.pid()
    if pid is not None and creds is not None:
        _same_database(server, creds, database)
        if wait_ready(server, creds, pid, timeout=timeout):
            return creds, False
    if creds is not None:
        _same_database(server, creds, database)
        db = Database.parse(creds.database, "the stored database URL") if creds.database else None
    want_port = port or (creds.port if creds else DEFAULT_PORT)
    if not port_is_free(want_port):
        raise LabelStudioError(
            f"port {want_port} on {HOST} is already in use by another program; "
            "stop it or choose another port with --port"
        )
    if db is not None:
        why = db.reachable()
        if why:
            raise LabelStudioError(
                f"cannot reach {db.describe()} ({why}); start PostgreSQL or fix --database")
    exe = find_label_studio()
    if creds is None:
        creds = server.create_credentials(want_port, username, database)
    elif want_port != creds.port:
        creds = Credentials(f"http://{HOST}:{want_port}", want_port, creds.username,
                            creds.password, creds.token, creds.database)
        server.save_credentials(creds)
    server.data.mkdir(parents=True, exist_ok=True)
    log = open(server.log_file, "ab")  # noqa: SIM115 - handed to the child
    try:
        proc = subprocess.Popen(
            [exe, "start", "--no-browser", "--internal-host", HOST, "--port", str(creds.port),
             "--data-dir", str(server.data), "--log-level", "WARNING"],
            cwd=server.root,
            env=child_env(server, creds),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() ends all of it
        )
    finally:
        log.close()
    server._write_private(server.pid_file, f"{proc.pid}\n")
    if not wait_ready(server, creds, proc.pid, timeout=timeout):
        died = server.pid() != proc.pid
        stop(root)
        what = "exited during start-up" if died else f"was not ready within {timeout:.0f} s"
        cause = _database_error(server.log_file) if died and db else None
        raise LabelStudioError(
            f"Label Studio {what}" + (f": {cause}" if cause else "")
            + f"; see the end of {server.log_file}"
            + ("" if died else " (a first start on a busy machine may need --timeout 600)")
        )
    return creds, True


def _same_database(server: ServerDir, creds: Credentials, database: str | None) -> None:
    """A data directory belongs to one database (its admin token lives there)."""
    if database is None or database == creds.database:
        return
    was = (Database.parse(creds.database, "the stored database URL").describe()
           if creds.database else f"SQLite in {server.data}")
    raise LabelStudioError(
        f"{server.root} was set up for {was}; leave --database out to use it, or give "
        "another --data-dir for another database")


def _database_error(log_file: Path) -> str | None:
    """The database's own complaint from the end of the log (a wrong password, a missing
    database), trimmed to one line."""
    try:
        tail = log_file.read_bytes()[-20000:].decode("utf-8", "replace").splitlines()
    except OSError:
        return None
    for line in reversed(tail):
        if "OperationalError" in line or "FATAL:" in line:
            text = line.split("FATAL:", 1)[-1] if "FATAL:" in line else line.split(":", 1)[-1]
            return " ".join(text.split())[:300]
    return None


def wait_ready(server: ServerDir, creds: Credentials, pid: int, *, timeout: float) -> bool:
    """True once /health answers and the stored token is accepted; False if the process dies
    or time runs out. A first start runs migrations (~40 s); a restart takes ~4 s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.pid() != pid:
            return False
        if health(creds.url) and token_works(creds.url, creds.token):
            return True
        _reap(pid)
        time.sleep(0.5)
    return False


def stop(root: str | os.PathLike = DEFAULT_DATA_DIR, *, timeout: float = 20.0) -> bool:
    """Stop the server's whole process group; True if one was running."""
    server = ServerDir(root)
    pid = server.pid()
    if pid is None:
        with contextlib.suppress(FileNotFoundError):
            server.pid_file.unlink()
        return False
    _signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and server.pid() == pid:
        _reap(pid)
        time.sleep(0.2)
    if server.pid() == pid:
        _signal_group(pid, signal.SIGKILL)
        _reap(pid)
    with contextlib.suppress(FileNotFoundError):
        server.pid_file.unlink()
    return True


def kill(root: str | os.PathLike = DEFAULT_DATA_DIR) -> None:
    """SIGKILL at once: what a crash or power cut does (used by the tests)."""
    server = ServerDir(root)
    pid = server.pid()
    if pid is not None:
        _signal_group(pid, signal.SIGKILL)
        for _ in range(50):
            _reap(pid)
            if server.pid() != pid:
                break
            time.sleep(0.1)


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


def _reap(pid: int) -> None:
    """Collect our own child's exit status so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def status(root: str | os.PathLike = DEFAULT_DATA_DIR) -> dict:
    server = ServerDir(root)
    creds = server.credentials()
    pid = server.pid()
    return {
        "data_dir": str(server.root),
        "url": creds.url if creds else None,
        "database": database_in_use(root, creds),
        "pid": pid,
        "running": pid is not None,
        "healthy": bool(creds and pid and health(creds.url)),
        "log": str(server.log_file),
    }


def database_in_use(root: str | os.PathLike, creds: Credentials | None) -> str:
    """Which database the server in `root` runs on, for people (no password)."""
    if creds is None or not creds.database:
        return f"SQLite ({ServerDir(root).data / 'label_studio.sqlite3'})"
    return Database.parse(creds.database, "the stored database URL").describe()


def local_credentials(root: str | os.PathLike = DEFAULT_DATA_DIR) -> Credentials | None:
    """The embedded server's credentials, if it was ever started from here."""
    return ServerDir(root).credentials()
