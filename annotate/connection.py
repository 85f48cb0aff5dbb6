"""Which Label Studio to talk to, and every failure of that talk as one line.

`--url`/`LABEL_STUDIO_URL` and `--api-key`/`LABEL_STUDIO_API_KEY` name a server of the user's
own; without them the embedded server's stored credentials are used. The SDK handles both
legacy tokens and personal access tokens (JWT refresh tokens)."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import click

from asag.annotate import server as local_server

# Calls that create things must never be repeated blindly: a timed-out import that the
# server did commit would come back as duplicates (the SDK retries POSTs by default).
NO_RETRY = {"max_retries": 0}


class ApiFailure(Exception):
    """A non-2xx answer, kept with its status and body for a one-line message."""

    def __init__(self, method: str, path: str, status: int, body: Any) -> None:
        self.method, self.path, self.status, self.body = method, path, status, body
        super().__init__(f"{method} {path}: HTTP {status}")

    @property
    def detail(self) -> str:
        body = self.body
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


@dataclass
class Api:
    """The SDK client plus plain JSON calls through its HTTP client (same auth, no pydantic
    parsing of 10,000 tasks)."""

    url: str
    sdk: Any
    last_date: str = ""  # the server's clock (HTTP Date) at its latest answer

    def request(self, method: str, path: str, *, params=None, json_body=None,
                timeout: float | None = None, retry: bool = True) -> Any:
        options: dict[str, Any] = {} if retry else dict(NO_RETRY)
        if timeout is not None:
            options["timeout_in_seconds"] = timeout
        content, headers = None, None
        if json_body is not None:  # orjson: the SDK's own encoder costs ~0.3 s per 10k tasks
            import orjson

            content, headers = orjson.dumps(json_body), {"Content-Type": "application/json"}
        response = self.sdk._client_wrapper.httpx_client.request(
            path.lstrip("/"), method=method, params=params, content=content, headers=headers,
            request_options=options or None,
        )
        self.last_date = response.headers.get("date", self.last_date)
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = response.text
            raise ApiFailure(method, path, response.status_code, body)
        if response.status_code == 204 or not response.content:
            return None
        ctype = response.headers.get("content-type", "")
        if "json" not in ctype:
            return response.content
        import orjson

        return orjson.loads(response.content)

    def get(self, path: str, **kw) -> Any:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw) -> Any:
        return self.request("POST", path, json_body=body, retry=False, **kw)

    def patch(self, path: str, body: Any, **kw) -> Any:
        return self.request("PATCH", path, json_body=body, **kw)

    def delete(self, path: str, **kw) -> Any:
        return self.request("DELETE", path, **kw)


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
        raise click.BadParameter(f"'{url}' is not a URL ({exc}); e.g. http://127.0.0.1:8080",
                                 param_hint="--url / LABEL_STUDIO_URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise click.BadParameter(f"'{url}' is not an http(s) URL; e.g. http://127.0.0.1:8080",
                                 param_hint="--url / LABEL_STUDIO_URL")
    return text.rstrip("/")


def resolve(url: str | None, api_key: str | None, data_dir) -> tuple[str, str]:
    """(url, key) from the options/environment, else from the embedded server."""
    url = normalise_url(url)
    api_key = api_key.strip() if api_key else None
    if api_key is not None and not (api_key.isascii() and api_key.isprintable()):
        raise click.BadParameter("the key holds characters no API key has (non-ASCII or "
                                 "control characters); copy it again from Label Studio's "
                                 "Account & Settings",
                                 param_hint="--api-key / LABEL_STUDIO_API_KEY")
    creds = local_server.local_credentials(data_dir)
    if url and api_key:
        return url.rstrip("/"), api_key
    if api_key and not url:
        if creds is None:
            raise click.UsageError(
                "--api-key / LABEL_STUDIO_API_KEY is set but not --url / LABEL_STUDIO_URL; "
                "set the server's address too"
            )
        return creds.url, api_key
    if url and creds is not None and url.rstrip("/") == creds.url:
        return creds.url, creds.token
    if url:
        raise click.UsageError(
            f"no API key for {url}: set LABEL_STUDIO_API_KEY (Label Studio: Account & "
            "Settings -> Access Token) or pass --api-key"
        )
    if creds is None:
        raise click.UsageError(
            "no Label Studio server: start the embedded one with `asag labelstudio start`, "
            "or set LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY for a server of your own"
        )
    return creds.url, creds.token


def connect(url: str, api_key: str, *, timeout: float = 600.0) -> Api:
    """A client whose key is checked once (a bad key fails here, with one line)."""
    # the base client: LabelStudio() also imports pandas and more (~1.5 s) for helpers unused here
    from label_studio_sdk.base_client import LabelStudioBase as LabelStudio

    with api_errors(url):
        sdk = LabelStudio(base_url=url, api_key=api_key, timeout=timeout)
        api = Api(url=url, sdk=sdk)
        api.get("api/current-user/whoami", timeout=30)
    return api


@contextlib.contextmanager
def api_errors(url: str, doing: str = "") -> Iterator[None]:
    """Turn transport and HTTP failures into one-line ClickExceptions with the fix."""
    import httpx

    what = f" while {doing}" if doing else ""
    try:
        yield
    except ApiFailure as exc:
        raise click.ClickException(_http_message(url, exc, what)) from None
    except httpx.ConnectError as exc:
        raise click.ClickException(
            f"cannot reach Label Studio at {url}{what} ({_short(exc)}); start it with "
            "`asag labelstudio start` or fix --url / LABEL_STUDIO_URL"
        ) from None
    except httpx.TimeoutException:
        raise click.ClickException(
            f"Label Studio at {url} did not answer in time{what}; check that it is running "
            "(`asag labelstudio status`) and re-run: the command is safe to repeat"
        ) from None
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
        raise click.ClickException(
            f"Label Studio at {url} dropped the connection{what} ({_short(exc)}); when it is "
            "back, re-run the same command: it is safe to repeat"
        ) from None
    except httpx.InvalidURL as exc:
        raise click.ClickException(f"'{url}' is not a usable URL ({exc}); fix --url") from None
    except _sdk_api_error() as exc:
        body = exc.body if exc.body is not None else ""
        failure = ApiFailure("", "", exc.status_code or 0, body)
        raise click.ClickException(_http_message(url, failure, what)) from None


def _sdk_api_error():
    from label_studio_sdk.core.api_error import ApiError

    return ApiError


def _http_message(url: str, exc: ApiFailure, what: str) -> str:
    detail = exc.detail
    if exc.status == 401:
        fix = "check --api-key / LABEL_STUDIO_API_KEY (Label Studio: Account & Settings)"
        if "legacy" in detail.lower():
            fix = ("use a personal access token, or enable legacy tokens in the organisation's "
                   "API token settings")
        return f"Label Studio at {url} refused the API key{what} (401: {detail}); {fix}"
    if exc.status == 403:
        return (f"Label Studio at {url} says this account may not do that{what} (403: {detail});"
                " use an administrator's or the project owner's API key")
    if exc.status == 404 and exc.path.startswith("api/current-user"):
        return f"{url} does not look like a Label Studio server (404); fix --url"
    return f"Label Studio at {url} answered HTTP {exc.status}{what}: {detail}"


def _short(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:160] or type(exc).__name__
