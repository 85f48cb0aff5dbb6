"""The HTTP app behind `asag serve`: scoring for other applications (`POST /score`,
`GET /model`, `POST /reload`, OpenAPI docs at `/docs`) and Label Studio's ML backend protocol
(`GET /health`, `POST /setup`, `/predict`, `/webhook`) on the same port.

Every bad request gets a 4xx JSON body `{"error": "one line"}` and the server goes on. The
token and the body-size limit are checked before a body is parsed; the token is compared in
constant time and never logged."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import logging
import signal
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from asag.serve.batcher import Batcher, LoadedModel, load_model
from asag.serve.labelstudio import (
    AnnotationCounter,
    ProtocolError,
    check_scale,
    predictions,
    task_rows,
)

log = logging.getLogger("uvicorn.error")  # uvicorn's format and level
OPEN_PATHS = {"/health", "/docs", "/docs/oauth2-redirect", "/openapi.json", "/redoc"}


@dataclass
class Settings:
    model_dir: Path
    token: str | None = None
    max_body: int = 2_000_000  # bytes
    max_answers: int = 1000  # per request
    max_batch: int = 64  # answers gathered into one batch
    max_wait: float = 0.005  # a batch gathers while requests come less than this apart (s)
    batch_size: int = 4  # answers per forward pass, after sorting the batch by length
    quantize: bool = False
    retrain_after: int | None = None
    journal: Path | None = None  # the live loop's journal (serve/live.py); None: not kept
    retrain_command: str | None = None  # run in the background when a retrain is due


# -- request bodies ---------------------------------------------------------------------

class Answer(BaseModel):
    """One answer to score; `id` comes back with its result."""

    model_config = ConfigDict(extra="ignore")
    id: str | int | None = None
    question: str
    reference_answer: str
    student_answer: str


class Task(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: int | None = None
    data: dict[str, Any]


class PredictRequest(BaseModel):
    """What Label Studio sends to /predict."""

    model_config = ConfigDict(extra="ignore")
    tasks: list[Task]
    label_config: str | None = None
    project: str | int | None = None


class SetupRequest(BaseModel):
    """What Label Studio sends to /setup (its access_token is ignored, never kept)."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    project: str | int | None = None
    label_config: str | None = Field(None, alias="schema")


# -- the app ------------------------------------------------------------------------------

def create_app(settings: Settings, model: LoadedModel | None = None) -> FastAPI:
    """The app, serving `model` (default: loaded from settings.model_dir)."""
    from asag.serve.live import LiveLoop

    live = LiveLoop(settings.journal, retrain_command=settings.retrain_command,
                    model_dir=settings.model_dir)
    model = live.restore(model or load_model(settings.model_dir, quantize=settings.quantize))
    batcher = Batcher(model, max_batch=settings.max_batch, max_wait=settings.max_wait,
                      batch_size=settings.batch_size)
    annotations = AnnotationCounter(settings.retrain_after)

    async def reload() -> dict:
        try:
            old, new = await batcher.reload(
                lambda: live.restore(load_model(settings.model_dir, quantize=settings.quantize)))
        except Exception as exc:  # noqa: BLE001 - the old model keeps serving
            message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            raise ProtocolError(409, f"reload failed, still serving "
                                     f"{batcher.model.version}: {message}") from None
        annotations.reset()
        log.info("reloaded %s: %s -> %s", settings.model_dir, old.version, new.version)
        return {"model_version": new.version, "previous": old.version}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await batcher.start()
        loop = asyncio.get_running_loop()
        try:  # SIGHUP reloads, where this is the main thread of a process
            loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(_hup()))
        except (ValueError, RuntimeError, NotImplementedError):
            pass
        yield
        await batcher.stop()
        live.close()

    async def _hup() -> None:
        try:
            await reload()
        except ProtocolError as exc:
            log.error("%s", exc.message)

    app = FastAPI(title="asag scorer", lifespan=lifespan,
                  description="Scores short answers with an asag scorer; also a Label Studio "
                              "ML backend. Errors are JSON: {\"error\": \"...\"}.")
    app.state.batcher, app.state.live = batcher, live
    app.add_middleware(Guard, token=settings.token, max_body=settings.max_body)
    _error_handlers(app)

    def too_many(n: int, what: str) -> None:
        if n > settings.max_answers:
            raise ProtocolError(413, f"{n:,} {what} in one request; at most "
                                     f"{settings.max_answers:,} (split the request, or start "
                                     "the server with a larger --max-answers)")

    async def scored(rows: list[dict]):
        try:
            return await batcher.score(rows)
        except Exception as exc:  # noqa: BLE001 - answered as one line, not a traceback
            log.error("scoring failed: %s: %s", type(exc).__name__, exc)
            raise ProtocolError(500, f"scoring failed ({type(exc).__name__}: {exc})") from None

    @app.get("/health", summary="Liveness; Label Studio's health check")
    async def health() -> dict:
        return {"status": "UP", "model_class": "asag", "model_version": batcher.model.version}

    @app.get("/model", summary="The scorer now serving: version and manifest")
    async def model_info() -> dict:
        from asag.train.scorer import model_summary

        current = batcher.model
        manifest = current.scorer.manifest
        return {"model_version": current.version, "path": str(current.path),
                "loaded_at": current.loaded_at, **model_summary(manifest),
                "manifest": manifest,
                "served": {"batches": batcher.batches, "answers": batcher.answers},
                "annotations": annotations.to_dict(), "live": live.to_dict()}

    @app.post("/score", summary="Score a list of answers", response_class=FastJSON)
    async def score(answers: list[Answer]) -> FastJSON:
        """A JSON list of {question, reference_answer, student_answer, id (optional)}; the
        results come back in the same order, with the version of the model that scored them.
        `confidence` is the calibrated probability that the score is the teachers' (scorers
        trained before calibration: the top class probability, or how close the output lies
        to a step); `set` (labels) or `interval` (numeric scales) the conformal prediction at
        the manifest's calibration level."""
        from asag.annotate.predictions import certainty

        too_many(len(answers), "answers")
        rows = [a.model_dump(exclude={"id"}) for a in answers]
        outputs, used = await scored(rows)
        results = []
        for answer, p in zip(answers, outputs, strict=True):
            item = {"id": answer.id} if answer.id is not None else {}
            item.update(p.to_dict())
            item["confidence"] = certainty(used.scorer.scale, p)
            results.append(item)
        return FastJSON({"model_version": used.version, "results": results})

    @app.post("/reload", summary="Load the model directory again and swap it in")
    async def reload_route() -> dict:
        """Needs the server's token. Requests in flight finish on the old model; a model that
        fails to load leaves the old one serving (409). SIGHUP does the same."""
        if settings.token is None:
            raise ProtocolError(403, "reload over HTTP needs a token: start the server with "
                                     "--token-file or ASAG_SERVE_TOKEN, or send it SIGHUP")
        return await reload()

    @app.post("/setup", summary="Label Studio: connect a project")
    async def setup(body: SetupRequest) -> dict:
        check_scale(body.label_config, batcher.model.scorer.scale)
        return {"model_version": batcher.model.version}

    @app.post("/predict", summary="Label Studio: predictions for tasks")
    async def predict(body: PredictRequest) -> dict:
        too_many(len(body.tasks), "tasks")
        scale = check_scale(body.label_config, batcher.model.scorer.scale)
        outputs, used = await scored(task_rows(body.tasks))
        check_scale(body.label_config, used.scorer.scale)  # a reload may have changed it
        return {"results": predictions(scale, outputs, used.version, body.label_config),
                "model_version": used.version}

    @app.post("/webhook", summary="Label Studio: project events (teachers' scores teach the "
                                    "memory; serve/live.py)")
    async def webhook(event: dict[str, Any]) -> dict:
        was_due = annotations.retrain_due
        annotations.add(event)
        if annotations.retrain_due and not was_due:
            log.info("retrain due: %d new annotations since %s was loaded (pull, build-dataset "
                     "and train, then POST /reload)", annotations.count, batcher.model.version)
        return {"status": "ok", **annotations.to_dict(),
                "live": await live.handle(event, batcher, annotations, reload)}

    return app


class FastJSON(JSONResponse):
    """orjson, and returned as is: the hot path skips FastAPI's jsonable_encoder pass."""

    def render(self, content) -> bytes:
        return orjson.dumps(content)


# -- errors -------------------------------------------------------------------------------

def error(status: int, message: str, **extra) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def _where(loc) -> str:
    """('body', 3, 'student_answer') -> 'body[3].student_answer'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ProtocolError)
    async def protocol_error(request: Request, exc: ProtocolError):
        return error(exc.status, exc.message)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        errors = exc.errors()
        first = errors[0] if errors else {"loc": ("body",), "msg": "invalid", "type": ""}
        if first.get("type") == "json_invalid":
            reason = (first.get("ctx") or {}).get("error", "")
            return error(400, f"the body is not valid JSON ({reason}); send "
                              "Content-Type: application/json with a JSON document")
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        return error(422, f"{_where(first['loc'])}: {first['msg']}{more}",
                     detail=[{"loc": _where(e["loc"]), "msg": e["msg"]} for e in errors[:20]])

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        if exc.status_code == 404:
            routes = sorted({r.path for r in app.routes if not r.path.startswith("/docs")})
            return error(404, f"no route {request.method} {request.url.path}; routes: "
                              f"{', '.join(routes)}")
        if exc.status_code == 405:
            return error(405, f"{request.method} is not allowed on {request.url.path}")
        return error(exc.status_code, str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception):  # pragma: no cover - a bug
        log.error("%s %s failed: %s: %s", request.method, request.url.path,
                  type(exc).__name__, exc)
        return error(500, f"internal error ({type(exc).__name__}); the server goes on")


class Guard:
    """ASGI middleware: the bearer token (or HTTP Basic password, which is how Label Studio
    authenticates to ML backends) and the body-size limit, before any body is parsed."""

    def __init__(self, app, *, token: str | None, max_body: int) -> None:
        self.app, self.token, self.max_body = app, token, max_body

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        if self.token is not None and scope["path"] not in OPEN_PATHS \
                and not self._authorised(headers.get(b"authorization", b"")):
            return await _send_json(send, 401, {
                "error": "missing or wrong token; send 'Authorization: Bearer TOKEN' (the "
                         "server's --token-file or ASAG_SERVE_TOKEN)"},
                [(b"www-authenticate", b'Bearer realm="asag"')])
        if scope["method"] == "POST":
            kind = headers.get(b"content-type")
            if kind is None:  # the body is JSON whatever the client forgot to say
                scope = {**scope, "headers": [*scope["headers"],
                                              (b"content-type", b"application/json")]}
            elif not kind.split(b";")[0].strip().endswith(b"json"):
                return await _send_json(send, 415, {
                    "error": f"Content-Type {kind.decode('latin-1')} is not JSON; send "
                             "Content-Type: application/json"})
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            return await _send_json(send, 413, self._too_big())
        body, more = [], True
        size = 0
        while more:  # read (up to the limit) before the app sees it; replayed below
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return await _send_json(send, 413, self._too_big())
            body.append(chunk)
            more = message.get("more_body", False)
        replay = [{"type": "http.request", "body": b"".join(body), "more_body": False}]

        async def receive_again():
            return replay.pop() if replay else await receive()

        return await self.app(scope, receive_again, send)

    def _too_big(self) -> dict:
        return {"error": f"the body is larger than {self.max_body:,} bytes; send fewer answers "
                         "per request, or start the server with a larger --max-body-mb"}

    def _authorised(self, header: bytes) -> bool:
        scheme, _, value = header.decode("latin-1").partition(" ")
        given = value.strip()
        if scheme.lower() == "basic":
            try:
                given = base64.b64decode(given, validate=True).decode().partition(":")[2]
            except (binascii.Error, UnicodeDecodeError):
                return False
        elif scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(given.encode(), self.token.encode())


async def _send_json(send, status: int, body: dict, headers=()) -> None:
    content = orjson.dumps(body)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(content)).encode()), *headers]})
    await send({"type": "http.response.body", "body": content})
