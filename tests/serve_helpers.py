"""The real `asag serve` app on a free port of 127.0.0.1, run by uvicorn in a thread, for the
serving tests (real HTTP through httpx, real tiny models)."""

from __future__ import annotations

import contextlib
import shutil
import threading
import time
from pathlib import Path


@contextlib.contextmanager
def running(app, port: int = 0):
    """Serve `app` until the block ends (on `port`; 0: a free one); yields its base URL."""
    import uvicorn

    from asag.serve.cli import bind

    sock = bind("127.0.0.1", port)
    port = sock.getsockname()[1]
    # log_config=None: uvicorn's loggers propagate to the root, so caplog sees them
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()


def versioned_copy(scorer: Path, parent: Path, name: str) -> Path:
    """The same scorer under another directory name: another model version."""
    target = parent / name
    if not target.exists():
        shutil.copytree(scorer, target)
    return target


def point(link: Path, target: Path) -> Path:
    """Make `link` a symlink to `target` (replacing it atomically), as a deploy would."""
    tmp = link.with_name(link.name + ".new")
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(target, target_is_directory=True)
    tmp.replace(link)
    return link


ITEM_KEYS = ("question", "reference_answer", "student_answer")


def items(rows: list[dict]) -> list[dict]:
    return [{k: r[k] for k in ITEM_KEYS} for r in rows]
