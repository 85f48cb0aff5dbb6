"""The Label Studio releases asag works with, and the check of a server's release against them.

OLDEST is the oldest release the round-trip core (push, the teacher's screen, simulated
teachers, pull, connect-model) passes on (tests/test_labelstudio_versions.py, run on it by
CI); NEWEST is the newest one tested (scripts/setup.sh pins it for the embedded server).
Older servers fail half-way through a command; newer ones are likely fine, so they only warn.
Label Studio Enterprise numbers its releases on its own and is not checked."""

from __future__ import annotations

import re

from asag.errors import LabelStudioError

OLDEST = "1.13.1"
NEWEST = "1.23.2"
SUPPORTED = f"label-studio>={OLDEST},<={NEWEST}"


def _release(text: str) -> tuple[int, ...] | None:
    """(1, 23, 2) from '1.23.2' (or '1.23.2.post0', '1.24.0rc1'); None when not a release."""
    found = re.match(r"\s*v?(\d+)\.(\d+)(?:\.(\d+))?", text)
    return tuple(int(n or 0) for n in found.groups()) if found else None


def check(url: str, release: str | None, edition: str | None = None) -> str | None:
    """Refuse (LabelStudioError) a Community server older than OLDEST; a warning line for one
    newer than NEWEST; None when it is in the range, unreadable, or not the Community edition."""
    if edition not in (None, "Community") or not release:
        return None
    have = _release(release)
    if have is None:
        return None
    if have < _release(OLDEST):
        raise LabelStudioError(
            f"Label Studio at {url} is {release}, older than asag supports ({OLDEST} to "
            f"{NEWEST}); upgrade the server (pip install '{SUPPORTED}'), or for the embedded "
            f"one run scripts/setup.sh or set ASAG_LABEL_STUDIO to a newer label-studio")
    if have > _release(NEWEST):
        return (f"warning: Label Studio at {url} is {release}, newer than asag was tested with "
                f"({OLDEST} to {NEWEST}); if a command fails, use {SUPPORTED}")
    return None
