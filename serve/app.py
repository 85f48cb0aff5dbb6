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
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr
from starlette.exceptions import HTTPException

from asag.errors import one_line
from asag.serve.batcher import Batcher, LoadedModel, load_model
from asag.serve.labelstudio import (
    HANDLED_EVENTS,
    AnnotationCounter,
    ProtocolError,
    no_prediction,
    prediction,
    project_target,
    task_row,
)

log = logging.getLogger("uvicorn.error")  # uvicorn's format and level
DOCS_ASSETS = "/docs/assets"
OPEN_PATHS = {"/", "/health", "/docs", "/docs/oauth2-redirect", "/openapi.json"}
# what Label Studio calls: its token (readable by every account of the Label Studio server,
# in the webhook's headers) opens these and nothing else (not /score, /model, /reload)
LABELSTUDIO_PATHS = {"/", "/setup", "/predict", "/webhook", "/metrics", "/versions", "/train"}
# its requests carry whole projects ("Retrieve predictions" sends every selected task in one
# /predict), so they get the larger body limit
LARGE_BODY_PATHS = {"/predict", "/setup", "/webhook"}


@dataclass
class Settings:
    model_dir: Path
    token: str | None = None  # the server's token: every route
    labelstudio_token: str | None = None  # Label Studio's (LABELSTUDIO_PATHS only); None:
    # derived from `token` (asag.tokens.labelstudio_token), as connect-model derives it
    max_body: int = 2_000_000  # bytes
    max_answers: int = 1000  # per request
    # Label Studio's requests (/predict, /setup, /webhook): its "Retrieve predictions" sends
    # every selected task, with all its texts, in one /predict
    max_labelstudio_body: int = 256_000_000  # bytes
    max_tasks: int = 100_000  # per /predict, scored in batches of max_batch
    max_batch: int = 64  # answers gathered into one batch
    max_wait: float = 0.005  # a batch gathers while requests come less than this apart (s)
    batch_size: int = 4  # answers per forward pass, after sorting the batch by length
    quantize: bool = False
    threads: int | str | None = "auto"  # torch CPU threads (Scorer.load)
    retrain_after: int | None = None
    journal: Path | None = None  # the live loop's journal (serve/live.py); None: not kept
    retrain_command: str | None = None  # run in the background when a retrain is due
    max_error: float | None = None  # the auto-scoring decision (Scorer.predict), or none
    tolerance: float = 0.0


# -- request bodies ---------------------------------------------------------------------

class Answer(BaseModel):
    """One answer to score. `id`, the answer's id, comes back with its result, and a scorer
    with a graded-answer memory never consults that answer's own score (as everywhere)."""

    model_config = ConfigDict(extra="ignore")
    id: StrictStr | StrictInt | None = None  # strict: true is not 1, "5" is not 5
    question_id: StrictStr | StrictInt | None = None  # its question's own --max-error evidence
    question: StrictStr
    reference_answer: StrictStr
    student_answer: StrictStr


class Task(BaseModel):
    model_config = ConfigDict(extra="ignore")
    id: StrictInt | None = None
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


class FastJSON(JSONResponse):
    """orjson, and returned as is: the hot path skips FastAPI's jsonable_encoder pass."""

    def render(self, content) -> bytes:
        return orjson.dumps(content)


# -- the state both routers share ------------------------------------------------------------

class Service:
    """What the scoring API and the Label Studio backend share (app.state.service): the
    settings, the batcher with the model now serving, the live loop (serve/live.py) and the
    webhook's count of new annotations."""

    def __init__(self, settings: Settings, model: LoadedModel | None = None) -> None:
        from asag.serve.live import LiveLoop

        self.settings = settings
        self.live = LiveLoop(settings.journal, retrain_command=settings.retrain_command,
                             model_dir=settings.model_dir)
        model = self.live.restore(self._decidable(model)) if model is not None else self.load()
        self.batcher = Batcher(model, max_batch=settings.max_batch,
                               max_wait=settings.max_wait, batch_size=settings.batch_size,
                               decision=self.decision)
        self.annotations = AnnotationCounter(settings.retrain_after)

    @property
    def decision(self) -> dict | None:
        """Scorer.predict's auto-scoring arguments, or None (no --max-error)."""
        settings = self.settings
        if settings.max_error is None:
            return None
        return {"max_error": settings.max_error, "tolerance": settings.tolerance}

    def _decidable(self, model: LoadedModel) -> LoadedModel:
        """`model`, refused (in one line) when it cannot hold --max-error."""
        if self.decision is not None:
            model.scorer.check_decision(self.settings.tolerance)
        return model

    def load(self) -> LoadedModel:
        settings = self.settings
        return self.live.restore(self._decidable(load_model(
            settings.model_dir, quantize=settings.quantize, threads=settings.threads)))

    async def reload(self) -> dict:
        """Load the model directory again and swap it in; 409 (the old model serving on)
        when it fails."""
        try:
            old, new = await self.batcher.reload(self.load)
        except Exception as exc:  # noqa: BLE001 - the old model keeps serving
            raise ProtocolError(409, f"reload failed, still serving "
                                     f"{self.batcher.model.version}: {one_line(exc)}") from None
        self.annotations.reset()
        log.info("reloaded %s: %s -> %s", self.settings.model_dir, old.version, new.version)
        return {"model_version": new.version, "previous": old.version}

    async def score(self, rows: list[dict]):
        """(predictions, the model that made them), a failure answered as one line."""
        try:
            return await self.batcher.score(rows)
        except Exception as exc:  # noqa: BLE001 - answered as one line, not a traceback
            log.error("scoring failed: %s: %s", type(exc).__name__, exc)
            raise ProtocolError(500, f"scoring failed ({type(exc).__name__}: {exc})") from None


def _service(request: Request) -> Service:
    return request.app.state.service


def _too_many(n: int, what: str, limit: int, fix: str) -> None:
    if n > limit:
        raise ProtocolError(413, f"{n:,} {what} in one request; at most {limit:,} ({fix})")


# -- the scoring API, for other applications -------------------------------------------------

scoring = APIRouter()


@scoring.get("/metrics", summary="Counters: batches and answers scored, new annotations")
async def metrics(request: Request) -> dict:
    service = _service(request)
    batcher = service.batcher
    return {"model_version": batcher.model.version, "batches": batcher.batches,
            "answers": batcher.answers, "annotations": service.annotations.to_dict()}


@scoring.get("/model", summary="The scorer now serving: version and manifest")
async def model_info(request: Request) -> dict:
    from asag.train.scorer import model_summary

    service = _service(request)
    batcher, current = service.batcher, service.batcher.model
    manifest = current.scorer.manifest
    return {"model_version": current.version, "path": str(current.path),
            "loaded_at": current.loaded_at, **model_summary(manifest),
            "manifest": manifest,
            "served": {"batches": batcher.batches, "answers": batcher.answers},
            "annotations": service.annotations.to_dict(), "live": service.live.to_dict()}


@scoring.post("/score", summary="Score a list of answers", response_class=FastJSON)
async def score(answers: list[Answer], request: Request) -> FastJSON:
    """A JSON list of {question, reference_answer, student_answer, id and question_id
    (optional)}; the results come back in the same order, with the version of the model that
    scored them. With --max-error each result says whether it is auto-scored (`auto`); a
    question_id lets a question with enough teacher checks use its own threshold.
    A scorer with a graded-answer memory never consults the score of an answer with the
    same id (an answer the teachers scored is scored as if it were new).
    `confidence` is the calibrated probability that the score is the teachers' (scorers
    trained before calibration: the top class probability, or how close the output lies
    to a step); `set` (labels) or `interval` (numeric scales) the conformal prediction at
    the manifest's calibration level. A blank student answer, or a text that is not valid
    Unicode, is a 422 naming it (`answers[3].student_answer: ...`)."""
    from asag.hints import certainty
    from asag.train.scorer import unscorable

    service = _service(request)
    _too_many(len(answers), "answers", service.settings.max_answers, "split the request, or "
              "start the server with a larger --max-answers")
    rows = [a.model_dump() for a in answers]  # the id too: the memory leaves it out
    bad = [f"answers[{i}].{problem}" for i, row in enumerate(rows)
           if (problem := unscorable(row))]
    if bad:
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise ProtocolError(422, bad[0] + more)
    outputs, used = await service.score(rows)
    results = []
    for answer, p in zip(answers, outputs, strict=True):
        item = {"id": answer.id} if answer.id is not None else {}
        item.update(p.to_dict())
        item["confidence"] = certainty(used.scorer.scale, p)
        results.append(item)
    return FastJSON({"model_version": used.version, "results": results})


@scoring.post("/reload", summary="Load the model directory again and swap it in")
async def reload_route(request: Request) -> dict:
    """Needs the server's token. Requests in flight finish on the old model; a model that
    fails to load leaves the old one serving (409). SIGHUP does the same."""
    service = _service(request)
    if service.settings.token is None:
        raise ProtocolError(403, "reload over HTTP needs a token: start the server with "
                                 "--token-file or ASAG_SERVE_TOKEN, or send it SIGHUP")
    return await service.reload()


# -- Label Studio's ML backend protocol ------------------------------------------------------

labelstudio = APIRouter()


@labelstudio.get("/health", summary="Liveness; Label Studio's health check")
@labelstudio.get("/", summary="Liveness, as the reference ML backend answers its root",
                 include_in_schema=False)
async def health(request: Request) -> dict:
    return {"status": "UP", "model_class": "asag",
            "model_version": _service(request).batcher.model.version}


@labelstudio.get("/versions", summary="Label Studio: the model versions this backend can serve")
async def versions(request: Request) -> dict:
    """One: the scorer now serving (a reload replaces it)."""
    service = _service(request)
    return {"versions": [service.batcher.model.version],
            "model_dir": str(service.settings.model_dir)}


@labelstudio.post("/setup", summary="Label Studio: connect a project")
async def setup(body: SetupRequest, request: Request) -> dict:
    """422 in one line when the project is not an asag project (no score control) or
    scores on another scale than the model."""
    model = _service(request).batcher.model
    project_target(body.label_config, model.scorer.scale)
    return {"model_version": model.version}


@labelstudio.post("/predict", summary="Label Studio: predictions for tasks",
                  response_class=FastJSON)
async def predict(body: PredictRequest, request: Request) -> FastJSON:
    """One result per task, in order: the score in the project's own score control (or
    asag's hint box where the project has it). A task that cannot be scored (a blank
    answer, text fields missing) gets an empty result with an `error` naming it; a
    request none of whose tasks can be scored is a 422 naming the first. Label Studio's
    whole "Retrieve predictions" batch is scored in batches of --max-batch tasks, so
    other clients' requests are answered between them."""
    service = _service(request)
    settings, batcher = service.settings, service.batcher
    _too_many(len(body.tasks), "tasks", settings.max_tasks, "select fewer tasks in Label "
              "Studio before Retrieve predictions")
    target = project_target(body.label_config, batcher.model.scorer.scale)
    rows = [task_row(n, task) for n, task in enumerate(body.tasks)]
    good = [n for n, row in enumerate(rows) if isinstance(row, dict)]
    bad = [row for row in rows if isinstance(row, str)]
    if bad and not good:
        raise ProtocolError(422, bad[0] + (f" (and {len(bad) - 1} more)"
                                           if len(bad) > 1 else ""))
    results: list = list(rows)
    version = batcher.model.version
    for start in range(0, len(good), settings.max_batch):
        part = good[start:start + settings.max_batch]
        outputs, used = await service.score([rows[n] for n in part])
        if not used.scorer.scale.same_as(target.scale):  # a reload changed the scale
            target = project_target(body.label_config, used.scorer.scale)
        version = used.version
        for n, output in zip(part, outputs, strict=True):
            results[n] = prediction(target, output, used.version)
    if bad:
        log.warning("no prediction for %d of %d tasks: %s", len(bad), len(rows), bad[0])
    for n, row in enumerate(rows):
        if isinstance(row, str):
            results[n] = no_prediction(version, row)
    return FastJSON({"results": results, "model_version": version})


@labelstudio.post("/webhook", summary="Label Studio: project events (201 for handled events; "
                                      "teachers' scores teach the memory, serve/live.py)")
async def webhook(event: dict[str, Any], request: Request) -> JSONResponse:
    """ANNOTATION_CREATED / _UPDATED / _DELETED and START_TRAINING are handled (201) and
    handed to the server's event hooks; other events get 200, as the reference backend
    answers. New annotations are counted towards --retrain-after, and teachers' scores
    reach the scorer's graded-answer memory at once (serve/live.py)."""
    service = _service(request)
    annotations = service.annotations
    action = event.get("action")
    was_due = annotations.retrain_due
    annotations.add(event)
    if annotations.retrain_due and not was_due:
        log.info("retrain due: %d new annotations since %s was loaded (pull, build-dataset "
                 "and train, then POST /reload)", annotations.count,
                 service.batcher.model.version)
    learned = await service.live.handle(event, service.batcher, annotations, service.reload)
    if action not in HANDLED_EVENTS:
        return JSONResponse({"status": "Unknown event", "action": action, "live": learned},
                            200)
    if action == "START_TRAINING":
        log.info("Label Studio asked to train (project %s): retrain with pull, "
                 "build-dataset and train, then POST /reload", _project_id(event))
    reply = {"status": "ok", "action": action, **annotations.to_dict(), "live": learned}
    for hook in request.app.state.event_hooks:
        reply.update(await _call(hook, action, event) or {})
    return JSONResponse(reply, 201)


# -- the app ------------------------------------------------------------------------------

def create_app(settings: Settings, model: LoadedModel | None = None) -> FastAPI:
    """The app, serving `model` (default: loaded from settings.model_dir): both routers,
    the token and body-size guard, one-line JSON errors and the offline docs."""
    from asag.tokens import labelstudio_token

    service = Service(settings, model)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await service.batcher.start()
        loop = asyncio.get_running_loop()
        try:  # SIGHUP reloads, where this is the main thread of a process
            loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(_hup()))
        except (ValueError, RuntimeError, NotImplementedError):
            pass
        yield
        await service.batcher.stop()
        service.live.close()

    async def _hup() -> None:
        try:
            await service.reload()
        except ProtocolError as exc:
            log.error("%s", exc.message)

    app = FastAPI(title="asag scorer", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Scores short answers with an asag scorer; also a Label Studio "
                              "ML backend. Errors are JSON: {\"error\": \"...\"}.")
    app.state.service = service
    app.state.batcher, app.state.live = service.batcher, service.live
    # called with (action, event) for each handled webhook event (HANDLED_EVENTS); what
    # they return is added to the webhook's reply. START_TRAINING is one of them.
    app.state.event_hooks = []
    app.add_middleware(Guard, token=settings.token, max_body=settings.max_body,
                       max_labelstudio_body=settings.max_labelstudio_body,
                       labelstudio_token=settings.labelstudio_token or (
                           settings.token and labelstudio_token(settings.token)))
    _error_handlers(app)
    _offline_docs(app)
    app.include_router(labelstudio)
    app.include_router(scoring)
    return app


def _all_routes(app: FastAPI) -> list:
    """The app's routes, its routers' included: FastAPI 0.165 keeps an included router as one
    entry of app.routes (without a path), earlier versions copy its routes in."""
    out = []
    for route in app.routes:
        router = getattr(route, "original_router", None)
        out += router.routes if router is not None else [route]
    return out


async def _call(hook, action: str, event: dict) -> dict | None:
    """A hook may be a plain function or a coroutine function."""
    result = hook(action, event)
    return await result if asyncio.iscoroutine(result) else result


def _project_id(event: dict):
    project = event.get("project")
    return project.get("id") if isinstance(project, dict) else project


def _offline_docs(app: FastAPI) -> None:
    """Swagger UI at /docs from files on disk (the fastapi-offline package ships them; the
    serve extra installs it), never from a CDN: the docs work on a machine with no internet.
    Without the package, a plain page that links the OpenAPI description."""
    from fastapi.responses import HTMLResponse

    try:
        from importlib.resources import files

        assets = files("fastapi_offline") / "static"
    except ModuleNotFoundError:
        assets = None

    if assets is not None:
        from fastapi.openapi.docs import get_swagger_ui_html
        from fastapi.staticfiles import StaticFiles

        app.mount(DOCS_ASSETS, StaticFiles(directory=str(assets)), name="docs-assets")

        @app.get("/docs", include_in_schema=False)
        async def docs() -> HTMLResponse:
            return get_swagger_ui_html(
                openapi_url="/openapi.json", title="asag scorer - docs",
                swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
                swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
                swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png")
        return

    @app.get("/docs", include_in_schema=False)
    async def plain_docs() -> HTMLResponse:
        routes = "".join(f"<li><code>{', '.join(sorted(r.methods or []))} {r.path}</code> "
                         f"{getattr(r, 'summary', '') or ''}</li>"
                         for r in _all_routes(app) if getattr(r, "include_in_schema", False))
        return HTMLResponse(f"<!doctype html><title>asag scorer</title><h1>asag scorer</h1>"
                            f"<ul>{routes}</ul><p>The full description: "
                            f"<a href=\"/openapi.json\">/openapi.json</a> (pip install "
                            f"'asag[serve]' adds the browsable Swagger UI)</p>")


# -- errors -------------------------------------------------------------------------------

def error(status: int, message: str, **extra) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


def _where(loc) -> str:
    """('body', 3, 'student_answer') -> 'answers[3].student_answer' (/score's body is the list
    of answers); ('body', 'tasks', 0) -> 'tasks[0]'; ('body',) -> 'the body'."""
    parts = list(loc[1:] if loc and loc[0] == "body" else loc)
    out = "answers" if parts and isinstance(parts[0], int) else ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "the body"


# what a field must be, by pydantic's error type, in the words of this API
KINDS = {"string_type": "a string", "int_type": "an integer", "bool_type": "true or false",
         "float_type": "a number", "list_type": "a list", "dict_type": "an object",
         "model_type": "an object", "model_attributes_type": "an object"}
# the tags pydantic adds to a location for each member of a union ('id.str', 'id.int')
UNION_TAGS = {"str", "int", "float", "bool", "none"}


def _messages(errors: list[dict]) -> list[tuple[str, str]]:
    """(where, what) per field: the members of a union folded into one ('answers[0].id:
    must be a string or an integer'), pydantic's internal names left out."""
    out: dict[str, list[str]] = {}
    for e in errors:
        loc = tuple(e["loc"])
        union = bool(loc) and isinstance(loc[-1], str) and loc[-1] in UNION_TAGS
        where = _where(loc[:-1] if union else loc)
        kind = e.get("type", "")
        if kind == "missing":
            what = "is required"
        elif kind in KINDS:
            what = KINDS[kind]
        else:
            what = str(e.get("msg", "invalid")).removeprefix("Value error, ")
        out.setdefault(where, []).append(what)
    return [(where, "must be " + " or ".join(dict.fromkeys(whats))
             if all(w in KINDS.values() for w in whats) else whats[0])
            for where, whats in out.items()]


def _error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ProtocolError)
    async def protocol_error(request: Request, exc: ProtocolError):
        return error(exc.status, exc.message)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError):
        errors = exc.errors()
        errors = errors or [{"loc": ("body",), "msg": "invalid", "type": ""}]
        first = errors[0]
        if first.get("type") == "json_invalid":
            reason = (first.get("ctx") or {}).get("error", "")
            return error(400, f"the body is not valid JSON ({reason}); send "
                              "Content-Type: application/json with a JSON document")
        found = _messages(errors)
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        return error(422, f"{found[0][0]}: {found[0][1]}{more}",
                     detail=[{"loc": where, "msg": what} for where, what in found[:20]])

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        if exc.status_code == 404:
            routes = sorted({r.path for r in _all_routes(app) if not r.path.startswith("/docs")})
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
    """ASGI middleware: the tokens (bearer, or the HTTP Basic password, which is how Label
    Studio authenticates to ML backends) and the body-size limit, before any body is parsed.
    The server's token opens every route; Label Studio's only LABELSTUDIO_PATHS. Label
    Studio's requests get their own, larger limit: it sends whole projects."""

    def __init__(self, app, *, token: str | None, max_body: int,
                 max_labelstudio_body: int | None = None,
                 labelstudio_token: str | None = None) -> None:
        self.app, self.token, self.max_body = app, token, max_body
        self.max_labelstudio_body = max(max_body, max_labelstudio_body or 0)
        self.labelstudio_token = labelstudio_token

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        path = scope["path"]
        refused = self._refused(path, headers.get(b"authorization", b""))
        if refused is not None:
            return await _send_json(send, *refused)
        if scope["method"] == "POST":
            kind = headers.get(b"content-type")
            if kind is None:  # the body is JSON whatever the client forgot to say
                scope = {**scope, "headers": [*scope["headers"],
                                              (b"content-type", b"application/json")]}
            elif not kind.split(b";")[0].strip().endswith(b"json"):
                return await _send_json(send, 415, {
                    "error": f"Content-Type {kind.decode('latin-1')} is not JSON; send "
                             "Content-Type: application/json"})
        limit = self.max_labelstudio_body if path in LARGE_BODY_PATHS else self.max_body
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            return await _send_json(send, 413, self._too_big(limit))
        body, more = [], True
        size = 0
        while more:  # read (up to the limit) before the app sees it; replayed below
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return await _send_json(send, 413, self._too_big(limit))
            body.append(chunk)
            more = message.get("more_body", False)
        replay = [{"type": "http.request", "body": b"".join(body), "more_body": False}]

        async def receive_again():
            return replay.pop() if replay else await receive()

        return await self.app(scope, receive_again, send)

    @staticmethod
    def _too_big(limit: int) -> dict:
        return {"error": f"the body is larger than {limit:,} bytes; send fewer answers "
                         "per request, or start the server with a larger --max-body-mb"}

    def _refused(self, path: str, header: bytes) -> tuple | None:
        """(status, body, headers) of a refusal, or None when the request may go on."""
        labelstudio = path in LABELSTUDIO_PATHS and self.labelstudio_token is not None
        if path in OPEN_PATHS or path.startswith(DOCS_ASSETS + "/") \
                or (self.token is None and not labelstudio):
            return None
        given = _credential(header)
        if given is not None and self.token is not None and _same(given, self.token):
            return None
        if given is not None and self.labelstudio_token is not None \
                and _same(given, self.labelstudio_token):
            if path in LABELSTUDIO_PATHS:
                return None
            return 403, {"error": f"this is Label Studio's token: it opens only "
                                  f"{', '.join(sorted(LABELSTUDIO_PATHS - {'/'}))}; "
                                  f"{path} needs the server's own token"}
        return 401, {"error": "missing or wrong token; send 'Authorization: Bearer TOKEN' "
                              "(the server's --token-file or ASAG_SERVE_TOKEN)"}, \
            [(b"www-authenticate", b'Bearer realm="asag"')]


def _credential(header: bytes) -> str | None:
    """The bearer token, or the HTTP Basic password."""
    scheme, _, value = header.decode("latin-1").partition(" ")
    given = value.strip()
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(given, validate=True).decode().partition(":")[2]
        except (binascii.Error, UnicodeDecodeError):
            return None
    return given if scheme.lower() == "bearer" else None


def _same(given: str, token: str) -> bool:
    return hmac.compare_digest(given.encode(), token.encode())  # constant time


async def _send_json(send, status: int, body: dict, headers=()) -> None:
    content = orjson.dumps(body)
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(content)).encode()), *headers]})
    await send({"type": "http.response.body", "body": content})
