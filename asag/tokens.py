"""The tokens of `asag serve`: where they come from, and the low-privilege one Label Studio
holds. Both ends use these rules: `asag serve` accepts the derived token, and `annotate
connect-model` hands it to Label Studio in place of the server's own."""

from __future__ import annotations

import os

TOKEN_ENV = "ASAG_SERVE_TOKEN"
LABELSTUDIO_TOKEN_ENV = "ASAG_SERVE_LABELSTUDIO_TOKEN"


def env_token(env: str = TOKEN_ENV) -> str | None:
    """The token in $env (stripped), else None."""
    return os.environ.get(env, "").strip() or None


def labelstudio_token(token: str) -> str:
    """The low-privilege token Label Studio gets, derived from the server's own token (HMAC:
    it cannot be turned back into it). Label Studio shows it to every account that can read
    the project's webhooks, so it opens only what Label Studio calls (/predict, /setup,
    /webhook), never /reload or /score; `connect-model`, given the server's token, hands
    over this one instead."""
    import hashlib
    import hmac

    return "ls-" + hmac.new(token.encode(), b"asag serve: label studio",
                            hashlib.sha256).hexdigest()[:40]
