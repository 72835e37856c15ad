"""The explorer's web app (Starlette): three pages, the JSON API behind them, and live updates.

    /                     requests, games, money            /api/requests   /api/games   /api/money   /api/status
    /requests/{id}        one request: input, submissions   /api/requests/{id}   /api/requests/{id}/input.png
    /games/{id}           one game: parties, bonds, clocks, the bisection picture, the step, the payouts
                                                            /api/games/{id}   /api/games/{id}/picture.svg
    /api/events           server-sent events: `update` with the index version whenever it changes

Ids are decimal integers: a malformed one answers 400, an unknown one 404, both as {"error": "..."}. The pages are
plain HTML/JS/CSS from `static/` (nothing fetched from elsewhere, no build step): one HTML shell, `page.html`, whose
`data-page` tells `app.js` which of the three views to draw.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .follower import Follower, FollowerOptions
from .inputs import image_png, image_side
from .views import game_json, game_row, money_json, request_json, request_row, status_json

STATIC = Path(__file__).parent / "static"
MAX_ID_DIGITS = 78  # a uint256 has at most 78 decimal digits
HEARTBEAT_S = 15.0


class Changes:
    """Wakes every server-sent-event stream when the index changes."""

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.closed = False

    def close(self) -> None:
        """The server is shutting down: every stream ends now."""
        self.closed = True
        self.notify()

    def notify(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), timeout)


def parse_id(raw: str, what: str) -> int:
    """A request or game id from a URL; HTTP 400 with the reason when it is not a positive decimal integer."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > MAX_ID_DIGITS or int(raw) == 0:
        raise HTTPException(400, f"malformed {what} id {raw[:40]!r}: expected a positive decimal integer")
    return int(raw)


def create_app(options: FollowerOptions, follower: Follower | None = None) -> Starlette:
    """The app; its lifespan runs the follower (pass one to share it, e.g. in tests). `app.state.close_streams()`
    ends the open event streams (call it on the event loop when the server starts shutting down)."""
    changes = Changes()
    follower = follower or Follower(options)

    def on_change() -> None:
        changes.notify()

    follower.on_change = on_change

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        task = asyncio.create_task(follower.run())
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def index():  # noqa: ANN202
        return follower.index

    async def status(_request: Request) -> JSONResponse:
        with follower.lock:
            return JSONResponse(status_json(index(), follower.chain_status()))

    async def requests(_request: Request) -> JSONResponse:
        with follower.lock:
            rows = [request_row(index(), r, follower.models) for r in sorted(index().requests.values(),
                                                                              key=lambda r: -r.id)]
        return JSONResponse({"requests": rows, "chain": follower.chain_status()})

    def _find(what: str, raw: str) -> Any:
        """The indexed request or game (`what`) with the id `raw`; 400 when malformed, 404 when unknown."""
        item_id = parse_id(raw, what)
        found = (index().requests if what == "request" else index().games).get(item_id)
        if found is None:
            raise HTTPException(404, f"unknown {what} {item_id}")
        return found

    def detail(what: str, to_json: Callable[..., dict]):  # noqa: ANN202
        async def serve(request: Request) -> JSONResponse:
            with follower.lock:
                found = _find(what, request.path_params["id"])
                return JSONResponse({**to_json(index(), found, follower.models), "chain": follower.chain_status()})

        return serve

    async def input_png(request: Request) -> Response:
        with follower.lock:
            found = _find("request", request.path_params["id"])
            model = follower.models.get(found.model)
            side = image_side(found.input, model.input_shape if model else None)
            data = found.input
        if side is None:
            raise HTTPException(404, f"the input of request {found.id} is not an image")
        return Response(image_png(data, side), media_type="image/png")

    async def games(_request: Request) -> JSONResponse:
        with follower.lock:
            rows = [game_row(index(), g) for g in sorted(index().games.values(), key=lambda g: -g.id)]
        return JSONResponse({"games": rows, "chain": follower.chain_status()})

    async def picture(request: Request) -> Response:
        with follower.lock:
            found = _find("game", request.path_params["id"])
            svg = game_json(index(), found, follower.models)["picture"]
        return Response(svg, media_type="image/svg+xml")

    async def money(_request: Request) -> JSONResponse:
        with follower.lock:
            return JSONResponse({**money_json(index()), "chain": follower.chain_status()})

    async def events(request: Request) -> StreamingResponse:
        async def stream() -> AsyncIterator[str]:
            yield "retry: 1000\n\n"
            last = None
            while not changes.closed and not await request.is_disconnected():
                version = index().version
                if version != last:
                    last = version
                    yield f"event: update\ndata: {json.dumps({'version': version})}\n\n"
                else:
                    yield ": heartbeat\n\n"
                await changes.wait(HEARTBEAT_S)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    shell = (STATIC / "page.html").read_text(encoding="utf-8")

    def page(name: str):  # noqa: ANN202
        html = shell.replace("{page}", name)

        async def serve(_request: Request) -> HTMLResponse:
            return HTMLResponse(html)

        return serve

    async def api_not_found(request: Request) -> JSONResponse:
        return JSONResponse({"error": f"no API route {request.url.path}"}, status_code=404)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        if request.url.path.startswith("/api/") or exc.status_code == 400:
            return JSONResponse({"error": exc.detail}, status_code=exc.status_code)
        return Response(f"{exc.status_code}: {exc.detail}\n", status_code=exc.status_code, media_type="text/plain")

    routes = [
        Route("/", page("index")),
        Route("/requests/{id}", page("request")),
        Route("/games/{id}", page("game")),
        Route("/api/status", status),
        Route("/api/requests", requests),
        Route("/api/requests/{id}", detail("request", request_json)),
        Route("/api/requests/{id}/input.png", input_png),
        Route("/api/games", games),
        Route("/api/games/{id}", detail("game", game_json)),
        Route("/api/games/{id}/picture.svg", picture),
        Route("/api/money", money),
        Route("/api/events", events),
        Route("/api/{rest:path}", api_not_found),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={HTTPException: http_error})
    app.state.close_streams = changes.close
    return app
