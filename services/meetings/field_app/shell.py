"""Serving the field app's shell from `apps/field/`: plain files, gzip when the phone accepts it,
and a version derived from the files' content so that a new deployment is a new service worker
(and a new cache) that the app can detect."""

from __future__ import annotations

import gzip
import hashlib
import json
import mimetypes
import threading
from dataclasses import dataclass
from pathlib import Path

VERSION_PLACEHOLDER = "__APP_VERSION__"
FILES_PLACEHOLDER = '"__APP_FILES__"'
# Files whose text carries the version: the service worker (so its bytes change) and the page.
VERSIONED = {"sw.js", "index.html"}
# The shell the service worker precaches; also what the size budget counts.
TEXT_TYPES = (".html", ".css", ".js", ".webmanifest", ".svg", ".json")


@dataclass(frozen=True)
class ShellFile:
    body: bytes
    gzipped: bytes
    media_type: str


class AppShell:
    """The app's files, re-read when any of them changes on disk (a deployment)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory.resolve()
        self._lock = threading.Lock()
        self._stamp: tuple[tuple[str, int, int], ...] = ()
        self._files: dict[str, ShellFile] = {}
        self._version = ""

    def _scan(self) -> None:
        paths = sorted(p for p in self.directory.rglob("*") if p.is_file() and p.suffix in (*TEXT_TYPES, ".png"))
        stamp = tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in paths)
        with self._lock:
            if stamp == self._stamp:
                return
            raw = {p.relative_to(self.directory).as_posix(): p.read_bytes() for p in paths}
            digest = hashlib.sha256()
            for name in sorted(raw):
                digest.update(name.encode() + b"\0" + raw[name] + b"\0")
            version = digest.hexdigest()[:12]
            precache = json.dumps(["./"] + [f"./{name}" for name in sorted(raw) if name not in ("sw.js", "index.html")])
            files = {}
            for name, body in raw.items():
                if name in VERSIONED:
                    body = body.replace(VERSION_PLACEHOLDER.encode(), version.encode())
                    body = body.replace(FILES_PLACEHOLDER.encode(), precache.encode())
                media_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
                if name.endswith(".webmanifest"):
                    media_type = "application/manifest+json"
                files[name] = ShellFile(body, gzip.compress(body, 9, mtime=0), media_type)
            self._files, self._version, self._stamp = files, version, stamp

    @property
    def version(self) -> str:
        self._scan()
        return self._version

    def get(self, name: str) -> ShellFile | None:
        """A file of the shell by its path under `/app/` (`""` is the page); None when absent."""
        self._scan()
        return self._files.get(name or "index.html")

    def names(self) -> list[str]:
        self._scan()
        return sorted(self._files)
