"""The dashboard's routes (Starlette). Pages are HTML shells; their parts come from ``/api/...`` as JSON.

Routes take a study name (looked up in the store, never used as a path) and a trial number (an int); static
files come from a fixed table. Writes go through ``check_write`` and call the same ``Study`` methods as Python
and the CLI, with the token's label as who made the change.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from itero.dashboard import _pages as pages
from itero.dashboard import _views as views
from itero.dashboard._security import SECURITY_HEADERS, WriteRefused, check_write
from itero.dashboard._state import Board
from itero.exceptions import IteroError, StudyNotFoundError
from itero.report._html import CSS as REPORT_CSS
from itero.report._html import Figures
from itero.store import Store
from itero.study import Study, best_trials

STATIC = Path(__file__).parent / "static"


def _plotly_js() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


#: The only files served: name -> (path, media type).
STATIC_FILES: dict[str, tuple[Callable[[], Path], str]] = {
    "dashboard.js": (lambda: STATIC / "dashboard.js", "text/javascript"),
    "dashboard.css": (lambda: STATIC / "dashboard.css", "text/css"),
    "plotly.min.js": (_plotly_js, "text/javascript"),
}

Handler = Callable[[Request], Awaitable[Response]]


def create_app(
    storage: str | Store,
    *,
    tokens: Mapping[str, str] | None = None,
    allowed_hosts: list[str] | None = None,
) -> Starlette:
    """The dashboard of ``storage`` as an ASGI app. ``tokens`` ({secret: label}) make it writable; ``None``
    keeps it read-only. ``allowed_hosts``: the ``Host`` headers accepted (default: loopback names only, which
    stops DNS-rebinding pages from reading a dashboard on 127.0.0.1).

        >>> app = create_app("sqlite:///itero.db")                                  # doctest: +SKIP
        >>> uvicorn.run(app, host="127.0.0.1", port=8080)                           # doctest: +SKIP
    """
    board = Board(storage)
    writable = tokens is not None

    def html(text: str, status: int = 200) -> HTMLResponse:
        return HTMLResponse(text, status_code=status, headers=SECURITY_HEADERS)

    def data(value: Any, status: int = 200) -> Response:
        return JSONResponse(value, status_code=status, headers=SECURITY_HEADERS)

    def raw_json(text: str) -> Response:
        return Response(text, media_type="application/json", headers=SECURITY_HEADERS)

    def page(handler: Callable[[Request], Response]) -> Handler:
        """A page route run off the event loop; a missing study or trial is a 404 page, bad input a 400."""

        async def run(request: Request) -> Response:
            try:
                return await run_in_threadpool(handler, request)
            except (StudyNotFoundError, LookupError) as exc:
                return _error(request, 404, _message(exc))
            except (ValueError, IteroError) as exc:
                return _error(request, 400, _message(exc))

        return run

    def _error(request: Request, status: int, message: str) -> Response:
        if request.url.path.startswith("/api/"):
            return data({"error": message}, status)
        return html(pages.error_page(status, message, writable), status)

    def study_of(request: Request) -> Study:
        return board.study(request.path_params["name"])

    def trial_of(study: Study, request: Request) -> Any:
        number = request.path_params["number"]
        for t in study.history.trials:
            if t.number == number:
                return t
        raise LookupError(f"study {study.name!r} has no trial {number}")

    # ------------------------------------------------------------------ pages
    def home(request: Request) -> Response:
        return html(pages.studies_page(writable))

    def study_home(request: Request) -> Response:
        return html(pages.study_page(study_of(request), writable))

    def trial_home(request: Request) -> Response:
        study = study_of(request)
        t = trial_of(study, request)
        return html(pages.trial_page(study, t.number, writable))

    def static(request: Request) -> Response:
        name = request.path_params["file"]
        entry = STATIC_FILES.get(name)
        if entry is None:
            return _error(request, 404, "no such file")
        path, media = entry
        headers = {**SECURITY_HEADERS, "Cache-Control": "max-age=3600"}
        if name == "dashboard.css":  # the report's stylesheet, then the dashboard's own rules
            return Response(REPORT_CSS + path().read_text(encoding="utf-8"), media_type=media, headers=headers)
        return FileResponse(path(), media_type=media, headers=headers)

    # ------------------------------------------------------------------ parts
    def studies(request: Request) -> Response:
        counts = board.store.state_counts()
        ids = {rec.name: rec.id for rec in board.store.list_studies()}
        rows = []
        for name in ids:

            def build(st: Study) -> pages.StudyRow:
                return pages.StudyRow(_summary(st, counts.get(ids[st.name], {})), _last(st), st.totals())

            row, _ = board.cached(name, ("summary",), build, slow=True)
            rows.append(row)
        return data({"html": pages.studies_table(rows), "figures": {}})

    def studies_version(request: Request) -> Response:
        return data({"version": ";".join(f"{n}:{board.version(n)}" for n in board.names())})

    def version(request: Request) -> Response:
        return data({"version": board.version(request.path_params["name"])})

    def section(request: Request) -> Response:
        sid = request.path_params["section"]
        if sid not in views.SECTION_IDS:
            raise LookupError(f"no section {sid!r}; the sections are {', '.join(views.SECTION_IDS)}")
        name = request.path_params["name"]
        ctx, v = board.cached(name, ("context",), views.context, slow=True)
        text, _ = board.cached(
            name, ("section", sid, v), lambda _: views.render_section(ctx, sid), slow=True, track=False
        )
        return raw_json(f'{{"version":{v},{text[1:]}')

    def trials(request: Request) -> Response:
        study = study_of(request)
        q = views.TableQuery.parse(dict(request.query_params), list(study.directions))
        part, v = board.cached(study.name, ("table", q), lambda st: views.table_page(views.table_snapshot(st), q))
        return data({"version": v, **part})

    def trial(request: Request) -> Response:
        study = study_of(request)
        number = trial_of(study, request).number

        def build(st: Study) -> str:
            figures = Figures()
            body = pages.trial_fragment(st, trial_of(st, request), figures)
            figs = ",".join(f"{json.dumps(fid)}:{text}" for fid, text in figures.items)
            return f'{{"html":{json.dumps(body)},"figures":{{{figs}}}}}'

        text, v = board.cached(study.name, ("trial", number), build, slow=True)
        return raw_json(f'{{"version":{v},{text[1:]}')

    def actions(request: Request) -> Response:
        study = study_of(request)
        html = pages.actions_table(study.actions(limit=200), study.name)
        return data({"version": study.version, "html": html, "figures": {}})

    # ------------------------------------------------------------------ writes
    def write(act: Callable[[Study, Request, dict[str, Any], str], Any]) -> Handler:
        async def run(request: Request) -> Response:
            try:
                who = check_write(request, tokens)
            except WriteRefused as exc:
                return data({"error": str(exc)}, exc.status)
            try:
                body = await request.json()
            except ValueError:
                return data({"error": "the body is not valid JSON"}, 400)
            if not isinstance(body, dict):
                return data({"error": f"the body must be a JSON object, got {type(body).__name__}"}, 400)
            try:
                study = await run_in_threadpool(study_of, request)
                result = await run_in_threadpool(act, study, request, body, who)
            except (StudyNotFoundError, LookupError) as exc:
                return data({"error": _message(exc)}, 404)
            except (ValueError, TypeError, IteroError) as exc:
                return data({"error": _message(exc)}, 400)
            return data({"ok": True, "who": who, **(result or {})})

        return run

    def enqueue(study: Study, request: Request, body: dict[str, Any], who: str) -> dict[str, Any]:
        params = body.get("params")
        if not isinstance(params, dict) or not params:
            raise ValueError('enqueue: "params" must be a non-empty JSON object, e.g. {"lr": 0.01}')
        bad = [k for k, v in params.items() if isinstance(v, float) and not math.isfinite(v)]
        if bad:
            raise ValueError(f"enqueue: {bad[0]!r} is not a finite number")
        return {"number": study.enqueue(params, who=who)}

    def narrow(study: Study, request: Request, body: dict[str, Any], who: str) -> dict[str, Any]:
        name = body.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError('narrow: "name" must be the name of a parameter')
        if body.get("reset"):
            return {"action": study.widen(name, who=who).describe()}
        given = {k: body[k] for k in ("low", "high", "choices", "value") if body.get(k) is not None}
        return {"action": study.narrow(name, **given, who=who).describe()}

    def act_on_trial(study: Study, request: Request, body: dict[str, Any], who: str) -> dict[str, Any]:
        number = request.path_params["number"]
        action = request.path_params["action"]
        if action == "stop":
            study.stop_trial(number, who=who)
        elif action == "pause":
            study.pause_trial(number, who=who)
        elif action == "resume":
            study.resume_trial(number, who=who)
        elif action == "note":
            text = body.get("text")
            if not isinstance(text, str):
                raise ValueError('note: "text" must be a string')
            study.set_trial_note(number, text, who=who)
        elif action == "tag":
            tag = body.get("tag")
            if not isinstance(tag, str) or not tag.strip():
                raise ValueError('tag: "tag" must be a non-empty string')
            study.add_trial_tag(number, tag.strip(), who=who)
        else:
            raise LookupError(f"no trial action {action!r}; the actions are stop, pause, resume, note, tag")
        return {"number": number, "action": action}

    async def whoami(request: Request) -> Response:
        try:
            return data({"who": check_write(request, tokens)})
        except WriteRefused as exc:
            return data({"error": str(exc)}, exc.status)

    # A study name may hold "/" (it arrives decoded), hence the ``path`` converter; the routes with a suffix come
    # before the bare study page, and the regex of each is anchored, so "a/b" with a suffix still parses.
    routes = [
        Route("/", page(home)),
        Route("/static/{file}", static),
        Route("/api/studies", page(studies)),
        Route("/api/studies/version", page(studies_version)),
        Route("/api/whoami", whoami, methods=["POST"]),
        Route("/api/studies/{name:path}/version", page(version)),
        Route("/api/studies/{name:path}/sections/{section}", page(section)),
        Route("/api/studies/{name:path}/trials/{number:int}/{action}", write(act_on_trial), methods=["POST"]),
        Route("/api/studies/{name:path}/trials/{number:int}", page(trial)),
        Route("/api/studies/{name:path}/trials", page(trials)),
        Route("/api/studies/{name:path}/actions", page(actions)),
        Route("/api/studies/{name:path}/enqueue", write(enqueue), methods=["POST"]),
        Route("/api/studies/{name:path}/narrow", write(narrow), methods=["POST"]),
        Route("/studies/{name:path}/trials/{number:int}", page(trial_home)),
        Route("/studies/{name:path}", page(study_home)),
    ]
    hosts = allowed_hosts if allowed_hosts is not None else ["127.0.0.1", "localhost", "::1", "testserver"]

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            board.dispose()

    app = Starlette(
        routes=routes, middleware=[Middleware(TrustedHostMiddleware, allowed_hosts=hosts)], lifespan=lifespan
    )
    app.state.board = board
    return app


def _summary(study: Study, counts: dict[str, int]) -> Any:
    from itero.study import StudySummary

    return StudySummary(study.name, dict(study.directions), study.created_at, counts, best_trials(study))


def _last(study: Study) -> float | None:
    """When a trial of the study last started or finished."""
    times = [
        d.timestamp() for t in study.history.trials for d in (t.datetime_start, t.datetime_complete) if d is not None
    ]
    return max(times) if times else None


def _message(exc: BaseException) -> str:
    # KeyError's str() adds quotes around its message.
    return exc.args[0] if isinstance(exc, KeyError) and exc.args and isinstance(exc.args[0], str) else str(exc)


__all__ = ["STATIC_FILES", "create_app"]
