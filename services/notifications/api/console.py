"""The console page's route: the page is a static file (`console/index.html`) that calls the API."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

console_router = APIRouter(tags=["console"])
CONSOLE_PAGE = Path(__file__).parent.parent / "console" / "index.html"


@console_router.get("/console", include_in_schema=False)
async def console() -> FileResponse:
    """The supervisor console: one static page (HTML + JS, no build step)."""
    return FileResponse(CONSOLE_PAGE, media_type="text/html")
