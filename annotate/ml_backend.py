"""`annotate connect-model`: register an `asag serve` server as a project's ML backend, so a
teacher who opens a task without a prediction sees the served model's hint.

Label Studio checks the backend when it is registered (GET /health, POST /setup with the
project's labelling config: a model on another scale is refused there), then asks it for
predictions (POST /predict) whenever a task without one is opened. The project's model
version becomes the backend's title, Label Studio's way of saying "ask the live model".
A server with a token gets it as HTTP Basic password (the only auth Label Studio sends to a
backend) and as a bearer header on the webhook Label Studio adds for the backend."""

from __future__ import annotations

import json
import re

import click
from label_studio_sdk.core.api_error import ApiError

from asag.annotate.connection import Api, detail, no_retry, plain

BASIC_USER = "labelstudio"


def connect_model(api: Api, project: dict, url: str, *, title: str = "asag",
                  token: str | None = None) -> dict:
    """Register (or update) the backend at `url` for the project; returns Label Studio's
    record of it (state, model_version). One-line ClickException when it cannot be used."""
    url = url.rstrip("/")
    check_backend(url, project, token)
    body = {"project": project["id"], "url": url, "title": title, "is_interactive": False,
            "auth_method": "BASIC_AUTH" if token else "NONE"}
    if token:
        body.update(basic_auth_user=BASIC_USER, basic_auth_pass=token)
    existing = [b for b in _backends(api, project["id"]) if b.get("url", "").rstrip("/") == url]
    try:
        if existing:
            backend = plain(api.sdk.ml.update(existing[0]["id"], **body))
        else:
            backend = plain(api.sdk.ml.create(**body, request_options=no_retry(timeout=60)))
    except ApiError as exc:
        if exc.status_code != 400:
            raise
        reason = exc.body.get("validation_errors") if isinstance(exc.body, dict) else None
        raise click.ClickException(
            f"Label Studio at {api.url} could not use the model at {url}: "
            f"{_plain(json.dumps(reason) if reason else detail(exc.body))}; "
            f"is `asag serve` running there{' with this token' if token else ''}? (Label "
            "Studio refuses 127.0.0.1 unless started with ML_BLOCK_LOCAL_IP=false and "
            "SSRF_PROTECTION_ENABLED=false, as `asag labelstudio start` does)") from None
    if backend.get("state") != "CO":
        raise click.ClickException(
            f"Label Studio registered {url} but reports it as '{backend.get('readable_state')}'"
            f" ({_plain(backend.get('error_message') or '')}); check the `asag serve` log")
    api.sdk.projects.update(project["id"], model_version=title, show_collab_predictions=True)
    if token:
        _authorise_webhook(api, project["id"], url, token)
    return backend


def check_backend(url: str, project: dict, token: str | None) -> None:
    """Ask the server ourselves first, as Label Studio will (POST /setup with the project's
    labelling config), so its own reason (scale, token) reaches the user: Label Studio
    reports only the HTTP status."""
    import httpx

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        reply = httpx.post(f"{url}/setup", json={"project": str(project["id"]),
                                                 "schema": project.get("label_config", "")},
                           headers=headers, timeout=30)
    except httpx.HTTPError as exc:
        raise click.ClickException(
            f"cannot reach the model at {url} ({type(exc).__name__}: {exc}); start it with "
            "`asag serve MODEL` or fix --url") from None
    if reply.status_code == 401:
        raise click.ClickException(f"the model at {url} refused the token; give the server's "
                                   "token with --token-file or ASAG_SERVE_TOKEN")
    if reply.status_code >= 400:
        try:
            reason = reply.json().get("error") or reply.text
        except ValueError:
            reason = reply.text
        raise click.ClickException(f"the model at {url} cannot serve project "
                                   f"'{project.get('title')}': {_plain(reason)}")


def _backends(api: Api, project_id: int) -> list[dict]:
    return plain(api.sdk.ml.list(project=project_id))


def _authorise_webhook(api: Api, project_id: int, url: str, token: str) -> None:
    """Label Studio adds URL/webhook for each backend, without credentials: give it the
    token, so the server counts the project's new annotations."""
    for hook in plain(api.sdk.webhooks.list(project=str(project_id))):
        if hook.get("url", "").rstrip("/") == f"{url}/webhook":
            headers = {**(hook.get("headers") or {}), "Authorization": f"Bearer {token}"}
            api.sdk.webhooks.update(hook["id"], headers=headers)


def _plain(text: str) -> str:
    """Label Studio's messages carry HTML links and line breaks: one plain line."""
    text = re.sub(r"<[^>]+>", "", str(text)).replace("\\n", " ")
    return " ".join(text.split())[:400]
