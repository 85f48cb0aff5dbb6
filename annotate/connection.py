"""Which Label Studio to talk to, and every failure of that talk as one line.

`--url`/`LABEL_STUDIO_URL` and `--api-key`/`LABEL_STUDIO_API_KEY` name a server of the user's
own; without them the embedded server's stored credentials are used. The SDK handles both
legacy tokens and personal access tokens (JWT refresh tokens).

Calls go through the SDK's public resource methods (`api.sdk.tasks.list`, ...), except the
ones named below: push's import and task listing (measured: the SDK costs 1.1x and 1.3x
there, 1.5x and 2.5x under load), the data manager's columns (no SDK method), and the web
app's own pages and probes (health, a token check, sign-up and log-in: no API does them). Pull reads
the export's bytes through the SDK's `exports.download`: no task becomes an SDK model.
README's Architecture says where a new call goes."""

from __future__ import annotations

import contextlib
import json
import sys
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from asag.errors import LabelStudioError, OptionError

# Calls that create things must never be repeated blindly: a timed-out import that the
# server did commit would come back as duplicates (the SDK retries POSTs by default).
NO_RETRY = {"max_retries": 0}


@dataclass
class Api:
    """The server's URL and the SDK client; every call goes through the SDK's public resource
    methods (`api.sdk.projects.list(...)`), their answers read as plain JSON (`plain`)."""

    url: str
    sdk: Any
    key: str = field(default="", repr=False)  # for the raw calls below
    http: Any = field(default=None, repr=False)  # their httpx client, made at the first
    access: str = field(default="", repr=False)  # a personal access token's access token


def plain(answer: Any) -> Any:
    """An SDK answer (a model, or a list of them) as the JSON the server sent: the fields it
    sent, by their wire names, so callers read dicts whatever the SDK's models declare."""
    if isinstance(answer, list):
        return [plain(item) for item in answer]
    if hasattr(answer, "model_dump"):
        return answer.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return answer


def every(pager: Any) -> list[dict]:
    """Every item of an SDK pager (`projects.list`, `tasks.list`), as plain dicts. The pager's
    own iteration asks for the page after the last, which Label Studio answers with 404
    "Invalid page.", so paging stops where the server says the list ends: no `next` page, or
    `total`/`count` items seen."""
    out: list[dict] = []
    page = pager
    while page is not None and page.items:
        out += plain(page.items)
        body = page.response
        total = getattr(body, "total", None)
        total = getattr(body, "count", None) if total is None else total
        if (hasattr(body, "next") and body.next is None) or (total is not None
                                                             and len(out) >= total):
            break
        page = page.next_page()
    return out


def no_retry(**options: Any) -> dict[str, Any]:
    """request_options (timeout, ...) for a call the SDK must not repeat (NO_RETRY)."""
    return {**NO_RETRY, **options}


# -- raw JSON calls: only where the SDK has no method or was measured to cost -------------

def import_tasks(api: Api, project_id: int, tasks: list[dict], *,
                 timeout: float = 900) -> list[int]:
    """POST api/projects/{id}/import of one batch, never retried; the new tasks' ids.

    Raw JSON because it was measured (benchmarks/bench_ls_sdk_calls.py, BENCHMARKS.md):
    10,000 answers in batches of 2,500 took 2.31 s this way and 2.51 s through the SDK's
    `projects.import_tasks` (its encoder walks every task) on a quiet machine, 2.80 s and
    4.20 s under load."""
    body = _raw(api, "POST", f"api/projects/{project_id}/import", timeout=timeout,
                params={"return_task_ids": "true"}, json_body=tasks)
    return list(body.get("task_ids") or [])


def task_page(api: Api, **params: Any) -> list[dict]:
    """One page of GET api/tasks (the data manager's task list) as plain dicts.

    Raw JSON because it was measured (benchmarks/bench_ls_sdk_calls.py, BENCHMARKS.md):
    listing 10,000 tasks (id and data) took 2.80 s this way and 3.66 s through the SDK's
    `tasks.list` (an SDK model per task) on a quiet machine, 3.3 s and 8.3 s under load."""
    return _raw(api, "GET", "api/tasks", params=params).get("tasks") or []


def selected_tasks(api: Api, project_id: int, task_ids: Iterable[int], *, include: str,
                   chunk: int = 1000) -> Iterator[dict]:
    """The given tasks (those that still exist; fields named by `include`, e.g. "id,data"),
    `chunk` ids a call: the data manager's selected items, not one GET per task."""
    ids = sorted(set(task_ids))
    for start in range(0, len(ids), chunk):
        part = ids[start:start + chunk]
        query = {"selectedItems": {"all": False, "included": part}, "ordering": ["tasks:id"]}
        yield from task_page(api, project=project_id, fields="task_only", resolve_uri="false",
                             include=include, page_size=len(part), page=1,
                             query=json.dumps(query))


def dm_columns(api: Api, project_id: int) -> list[dict]:
    """The data manager's columns of a project (GET api/dm/columns): the SDK has no method."""
    return _raw(api, "GET", "api/dm/columns", params={"project": project_id})["columns"]


def _raw(api: Api, method: str, path: str, *, params: dict | None = None,
         json_body: Any = None, timeout: float = 600) -> Any:
    """One JSON call through an httpx client built from the public URL and key (orjson both
    ways, no retries); a non-2xx answer raises the SDK's ApiError, as its methods do."""
    import httpx
    import orjson

    if api.http is None:
        api.http = httpx.Client(base_url=api.url, timeout=timeout)
    content = None if json_body is None else orjson.dumps(json_body)
    headers = {} if content is None else {"Content-Type": "application/json"}

    def send():
        return api.http.request(method, f"/{path}", params=params, content=content,
                                headers={**headers, "Authorization": _authorization(api)},
                                timeout=timeout)

    response = send()
    if response.status_code == 401 and api.access:  # the access token expired: once more
        api.access = ""
        response = send()
    try:
        body = orjson.loads(response.content) if response.content else None
    except orjson.JSONDecodeError:
        body = response.text
    if response.status_code >= 400:
        from label_studio_sdk.core.api_error import ApiError

        raise ApiError(status_code=response.status_code, headers=dict(response.headers),
                       body=body)
    return body


def _authorization(api: Api) -> str:
    """A legacy token as it is; a personal access token (a JWT refresh token) exchanged for
    an access token through the SDK's public `tokens.refresh`, kept until the server refuses
    it (access tokens expire)."""
    if api.key.count(".") != 2:
        return f"Token {api.key}"
    if not api.access:
        api.access = api.sdk.tokens.refresh(refresh=api.key).access
    return f"Bearer {api.access}"


def normalise_url(url: str | None) -> str | None:
    """`127.0.0.1:8080` means http://127.0.0.1:8080; anything but http(s)://HOST is refused."""
    from urllib.parse import urlsplit

    if url is None or not url.strip():
        return None
    text = url.strip()
    if "://" not in text:
        text = "http://" + text
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError as exc:
        raise OptionError(f"'{url}' is not a URL ({exc}); e.g. http://127.0.0.1:8080",
                          option="--url / LABEL_STUDIO_URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise OptionError(f"'{url}' is not an http(s) URL; e.g. http://127.0.0.1:8080",
                          option="--url / LABEL_STUDIO_URL")
    return text.rstrip("/")


def resolve(url: str | None, api_key: str | None, data_dir) -> tuple[str, str]:
    """(url, key) from the options/environment, else from the embedded server."""
    url = normalise_url(url)
    api_key = api_key.strip() if api_key else None
    if api_key is not None and not (api_key.isascii() and api_key.isprintable()):
        raise OptionError("the key holds characters no API key has (non-ASCII or control "
                          "characters); copy it again from Label Studio's Account & Settings",
                          option="--api-key / LABEL_STUDIO_API_KEY")
    from asag.annotate import server as local_server

    creds = local_server.local_credentials(data_dir)
    if url and api_key:
        return url.rstrip("/"), api_key
    if api_key and not url:
        if creds is None:
            raise OptionError(
                "--api-key / LABEL_STUDIO_API_KEY is set but not --url / LABEL_STUDIO_URL; "
                "set the server's address too"
            )
        return creds.url, api_key
    if url and creds is not None and url.rstrip("/") == creds.url:
        return creds.url, creds.token
    if url:
        raise OptionError(
            f"no API key for {url}: set LABEL_STUDIO_API_KEY (Label Studio: Account & "
            "Settings -> Access Token) or pass --api-key"
        )
    if creds is None:
        raise OptionError(
            "no Label Studio server: start the embedded one with `asag labelstudio start`, "
            "or set LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY for a server of your own"
        )
    return creds.url, creds.token


def connect(url: str, api_key: str, *, timeout: float = 600.0) -> Api:
    """A client whose key is checked once (a bad key fails here, with one line)."""
    # the base client: LabelStudio() also imports pandas and more (~1.5 s) for helpers unused here
    from label_studio_sdk.base_client import LabelStudioBase as LabelStudio

    with api_errors(url):
        api = Api(url=url, sdk=LabelStudio(base_url=url, api_key=api_key, timeout=timeout),
                  key=api_key)
        try:
            api.sdk.users.whoami(request_options={"timeout": 30})
        except _sdk_api_error() as exc:
            if exc.status_code == 404:
                raise LabelStudioError(
                    f"{url} does not look like a Label Studio server (404); fix --url") from None
            raise
        check_version(api)
    return api


def check_version(api: Api) -> None:
    """Refuse a server older than the supported releases, warn (one line) above the newest
    tested (annotate/versions.py). GET api/version is public; a server or proxy that does not
    answer it is let through: the key was already checked."""
    from asag.annotate import versions

    try:
        found = plain(api.sdk.versions.get(request_options={"timeout": 30, "max_retries": 0}))
    except _sdk_api_error():
        return
    found = found if isinstance(found, dict) else {}
    release, edition = found.get("release"), found.get("edition")
    warning = versions.check(api.url, release if isinstance(release, str) else None,
                             edition if isinstance(edition, str) else None)
    if warning:
        print(warning, file=sys.stderr, flush=True)


@contextlib.contextmanager
def api_errors(url: str, doing: str = "") -> Iterator[None]:
    """Turn transport and HTTP failures into one-line LabelStudioErrors with the fix."""
    import httpx

    what = f" while {doing}" if doing else ""
    try:
        yield
    except httpx.ConnectError as exc:
        raise LabelStudioError(
            f"cannot reach Label Studio at {url}{what} ({_short(exc)}); start it with "
            "`asag labelstudio start` or fix --url / LABEL_STUDIO_URL"
        ) from None
    except httpx.TimeoutException:
        raise LabelStudioError(
            f"Label Studio at {url} did not answer in time{what}; check that it is running "
            "(`asag labelstudio status`) and re-run: the command is safe to repeat"
        ) from None
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
        raise LabelStudioError(
            f"Label Studio at {url} dropped the connection{what} ({_short(exc)}); when it is "
            "back, re-run the same command: it is safe to repeat"
        ) from None
    except httpx.InvalidURL as exc:
        raise LabelStudioError(f"'{url}' is not a usable URL ({exc}); fix --url") from None
    except _sdk_api_error() as exc:
        raise LabelStudioError(_http_message(url, exc.status_code or 0, exc.body, what)) \
            from None


def _sdk_api_error():
    from label_studio_sdk.core.api_error import ApiError

    return ApiError


def _http_message(url: str, status: int, body: Any, what: str) -> str:
    text = detail(body)
    if status == 401:
        fix = "check --api-key / LABEL_STUDIO_API_KEY (Label Studio: Account & Settings)"
        if "legacy" in text.lower():
            fix = ("use a personal access token, or enable legacy tokens in the organisation's "
                   "API token settings")
        return f"Label Studio at {url} refused the API key{what} (401: {text}); {fix}"
    if status == 403:
        return (f"Label Studio at {url} says this account may not do that{what} (403: {text});"
                " use an administrator's or the project owner's API key")
    return f"Label Studio at {url} answered HTTP {status}{what}: {text}"


def detail(body: Any) -> str:
    """The reason in an error answer's body (its JSON message, else its text), one line."""
    if isinstance(body, dict):
        for key in ("detail", "validation_errors", "error", "message"):
            if body.get(key):
                value = body[key]
                return value if isinstance(value, str) else json.dumps(value)[:300]
    text = body if isinstance(body, str) else json.dumps(body)
    if text.lstrip()[:15].lower().startswith(("<!doctype", "<html")):
        return ("an internal error page; the reason is in the server's log (`asag "
                "labelstudio status` shows where)")
    return " ".join(str(text).split())[:300]


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:160] or type(exc).__name__


# -- the web app's own pages and probes: no API call does these -----------------------------

def health(url: str, timeout: float = 2.0) -> bool:
    """Whether the server at `url` answers GET /health with status UP. urllib, not the SDK:
    `asag labelstudio start` polls it while the server comes up, and `status` stays fast."""
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=timeout) as resp:  # noqa: S310
            return json.loads(resp.read() or b"{}").get("status") == "UP"
    except (OSError, ValueError):
        return False


def token_works(url: str, token: str, timeout: float = 10.0) -> bool:
    """Whether `token` (a legacy token) opens the API at `url` (GET whoami), without the SDK:
    the embedded server's stored credentials are checked before a start is skipped."""
    req = urllib.request.Request(
        f"{url}/api/current-user/whoami", headers={"Authorization": f"Token {token}"}
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310
            return resp.status == 200
    except (OSError, ValueError):
        return False


def sign_up(link: str, email: str, password: str):
    """Submit the sign-up form at an invite `link` as a teacher's browser would (the API can
    make users but not give them a password); Label Studio's answer (302: made)."""
    import httpx

    with httpx.Client(timeout=60, follow_redirects=False) as browser:
        page = browser.get(link)
        page.raise_for_status()
        csrf = browser.cookies.get("csrftoken", "")
        return browser.post(
            link,
            data={"email": email, "password": password, "csrfmiddlewaretoken": csrf},
            headers={"Referer": link},
        )


def login(url: str, email: str, password: str):
    """A logged-in browser-like session (cookies + CSRF header), as a teacher in the web app."""
    import httpx

    session = httpx.Client(base_url=url, timeout=60, follow_redirects=False)
    session.get("/user/login/")
    csrf = session.cookies.get("csrftoken", "")
    response = session.post(
        "/user/login/",
        data={"email": email, "password": password, "csrfmiddlewaretoken": csrf},
        headers={"Referer": f"{url}/user/login/"},
    )
    if response.status_code != 302:
        session.close()
        raise LabelStudioError(f"could not log in to {url} as {email}")
    session.headers["X-CSRFToken"] = session.cookies.get("csrftoken", "")
    session.headers["Referer"] = url
    return session
