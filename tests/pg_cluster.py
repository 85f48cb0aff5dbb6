"""A throw-away PostgreSQL cluster (Debian's PostgreSQL 15: initdb, pg_ctl) in a temporary
folder on a free port of 127.0.0.1, for the Label Studio tests and benchmarks on PostgreSQL.

PostgreSQL refuses to run as root, so under root (CI) the cluster belongs to the `postgres`
system account and its commands run through `runuser`. Clients log in over TCP with a
password (scram-sha-256), as a department's server would ask of Label Studio."""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

BIN_DIRS = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin",
            "/usr/lib/postgresql/17/bin")
USER = "asag"


def bin_dir() -> Path | None:
    """Where initdb and pg_ctl are, or None when PostgreSQL is not installed."""
    for candidate in BIN_DIRS:
        if os.access(Path(candidate) / "initdb", os.X_OK):
            return Path(candidate)
    found = shutil.which("initdb")
    return Path(os.path.realpath(found)).parent if found else None


@dataclass
class PgCluster:
    root: Path
    bin: Path
    port: int
    password: str
    owner: str | None  # the system account the server runs as (None: this process's user)

    def url(self, name: str) -> str:
        return f"postgresql://{USER}:{self.password}@127.0.0.1:{self.port}/{name}"

    def create_database(self, name: str) -> str:
        """A new empty database; its URL."""
        subprocess.run([str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                        "-U", USER, name], check=True, capture_output=True, timeout=120,
                       env={**os.environ, "PGPASSWORD": self.password})
        return self.url(name)

    def stop(self) -> None:
        """Stop the server at once and delete the cluster (nothing in it is kept)."""
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "-w",
                      "stop", timeout=120)
        shutil.rmtree(self.root, ignore_errors=True)

    def _run(self, tool: str, *args: str, timeout: float) -> subprocess.CompletedProcess:
        cmd = [str(self.bin / tool), *args]
        if self.owner:
            cmd = ["runuser", "-u", self.owner, "--", *cmd]
        return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=timeout,
                              cwd=self.root)


def start_cluster(port: int, *, durable: bool = False) -> PgCluster:
    """initdb + pg_ctl start; `durable=False` turns fsync off (tests: the cluster is thrown
    away; benchmarks pass True to measure what a real server does)."""
    binary = bin_dir()
    if binary is None:
        raise FileNotFoundError("PostgreSQL's initdb is not installed (apt-get install postgresql)")
    owner = "postgres" if os.geteuid() == 0 else None
    root = Path(tempfile.mkdtemp(prefix="asag-pg-"))
    cluster = PgCluster(root, binary, port, secrets.token_hex(12), owner)
    try:
        pwfile = root / "pw"
        pwfile.write_text(cluster.password + "\n")
        if owner:
            account = pwd.getpwnam(owner)
            for path in (root, pwfile):
                os.chown(path, account.pw_uid, account.pw_gid)
        os.chmod(root, 0o700)
        cluster._run("initdb", "-D", str(root / "data"), "-U", USER, f"--pwfile={pwfile}",
                     "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8",
                     "--no-locale", timeout=300)
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c max_connections=200"
        if not durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        cluster._run("pg_ctl", "-D", str(root / "data"), "-l", str(root / "server.log"),
                     "-o", options, "-w", "-t", "120", "start", timeout=180)
    except BaseException:
        cluster.stop()
        raise
    return cluster
