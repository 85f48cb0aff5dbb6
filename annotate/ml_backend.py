"""`annotate connect-model`: register an `asag serve` server as a project's ML backend, so a
teacher who opens a task without a prediction sees the served model's hint.

Label Studio checks the backend when it is registered (GET /health, POST /setup with the
project's labelling config: a model on another scale is refused there), then asks it for
predictions (POST /predict) whenever a task without one is opened. The project's model
version becomes the backend's title, Label Studio's way of saying "ask the live model".

Everything is checked before anything changes: the server answers, the token, and the
server's own /setup verdict on the project's scale. Then the project changes, in an order
that leaves no window: the webhook first, with its token already in its headers (Label
Studio adds a headerless one for a new backend only where none has the URL), the hint box,
the backend; a failure on the way undoes what this run changed.

Label Studio gets only the server's low-privilege token (asag.tokens.labelstudio_token:
/predict, /setup, /webhook, never /reload or /score), as the backend's HTTP Basic password
(write-only in Label Studio's API) and as a bearer header on the webhook (readable by every
account of the Label Studio server)."""

from __future__ import annotations

import json
import re

from label_studio_sdk.core.api_error import ApiError

from asag.annotate.connection import Api, detail, no_retry, plain
from asag.errors import LabelStudioError

BASIC_USER = "labelstudio"


def connect_model(api: Api, project: dict, url: str, *, title: str = "asag",
                  token: str | None = None, prepare=None) -> dict:
    """Register (or update) the backend at `url` for the project; returns Label Studio's
    record of it (state, model_version). One-line LabelStudioError when it cannot be used,
    before anything has changed. `prepare(project) -> (project, undo)` changes the project
    for the model (the hint box) once every check has passed; `undo()` reverts it."""
    url = url.rstrip("/")
    token = token_for_labelstudio(url, token)
    check_backend(url, project, token)
    undo = []  # what this run changed, undone in reverse when a later step fails
    try:
        if token:
            undo.append(_authorised_webhook(api, project["id"], url, token))
        if prepare is not None:
            project, revert = prepare(project)
            undo.append(revert)
        backend = _register(api, project, url, title, token)
        api.sdk.projects.update(project["id"], model_version=title,
                                show_collab_predictions=True)
    except BaseException:
        for step in reversed(undo):
            try:
                step()
            except Exception:  # noqa: BLE001, S110 - the first error is the one to report
                pass
        raise
    return backend


def token_for_labelstudio(url: str, token: str | None) -> str | None:
    """The token Label Studio may hold: given the server's own token (it opens GET /model
    where no token is refused), the low-privilege one derived from it; else the token as
    given (Label Studio's own, or any token for a server without one)."""
    import httpx

    from asag.tokens import labelstudio_token

    if token is None:
        return None
    try:
        mine = httpx.get(f"{url}/model", headers=_bearer(token), timeout=30).status_code
        anyone = httpx.get(f"{url}/model", timeout=30).status_code
    except httpx.HTTPError as exc:
        raise _unreachable(url, exc) from None
    return labelstudio_token(token) if mine == 200 and anyone == 401 else token


def _register(api: Api, project: dict, url: str, title: str, token: str | None) -> dict:
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
        raise LabelStudioError(
            f"Label Studio at {api.url} could not use the model at {url}: "
            f"{_plain(json.dumps(reason) if reason else detail(exc.body))}; "
            f"is `asag serve` running there{' with this token' if token else ''}? (Label "
            "Studio refuses 127.0.0.1 unless started with ML_BLOCK_LOCAL_IP=false and "
            "SSRF_PROTECTION_ENABLED=false, as `asag labelstudio start` does)") from None
    if backend.get("state") != "CO":
        if not existing:
            api.sdk.ml.delete(backend["id"])
        raise LabelStudioError(
            f"Label Studio registered {url} but reports it as '{backend.get('readable_state')}'"
            f" ({_plain(backend.get('error_message') or '')}); check the `asag serve` log")
    return backend


def check_backend(url: str, project: dict, token: str | None) -> None:
    """Ask the server ourselves first, as Label Studio will (POST /setup with the project's
    labelling config), so its own reason (scale, token) reaches the user: Label Studio
    reports only the HTTP status."""
    import httpx

    try:
        reply = httpx.post(f"{url}/setup", json={"project": str(project["id"]),
                                                 "schema": project.get("label_config", "")},
                           headers=_bearer(token) if token else {}, timeout=30)
    except httpx.HTTPError as exc:
        raise _unreachable(url, exc) from None
    if reply.status_code in (401, 403):
        raise LabelStudioError(
            f"the model at {url} refused the token; give the server's token, or the Label "
            "Studio token it was started with (--labelstudio-token-file), with --token-file")
    if reply.status_code >= 400:
        try:
            reason = reply.json().get("error") or reply.text
        except ValueError:
            reason = reply.text
        raise LabelStudioError(f"the model at {url} cannot serve project "
                               f"'{project.get('title')}': {_plain(reason)}")


def _backends(api: Api, project_id: int) -> list[dict]:
    return plain(api.sdk.ml.list(project=project_id))


def _authorised_webhook(api: Api, project_id: int, url: str, token: str):
    """The project's webhook to `url`/webhook, with the token in its headers before Label
    Studio can send an event to it (made here, complete in one call; Label Studio then adds
    none of its own). Returns how to undo this."""
    target = f"{url}/webhook"
    for hook in plain(api.sdk.webhooks.list(project=str(project_id))):
        if hook.get("url", "").rstrip("/") == target:
            before = hook.get("headers") or {}
            api.sdk.webhooks.update(hook["id"], headers={**before,
                                                         **_bearer(token)})
            return lambda: api.sdk.webhooks.update(hook["id"], headers=before)
    made = plain(api.sdk.webhooks.create(project=project_id, url=target, headers=_bearer(token),
                                         send_payload=True, send_for_all_actions=True,
                                         is_active=True))
    return lambda: api.sdk.webhooks.delete(made["id"])


def _bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def _unreachable(url: str, exc: Exception) -> LabelStudioError:
    return LabelStudioError(f"cannot reach the model at {url} ({type(exc).__name__}: "
                            f"{exc}); start it with `asag serve MODEL` or fix --url")


def _plain(text: str) -> str:
    """Label Studio's messages carry HTML links and line breaks: one plain line."""
    text = re.sub(r"<[^>]+>", "", str(text)).replace("\\n", " ")
    return " ".join(text.split())[:400]
