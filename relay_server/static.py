"""The web app's static files, with the headers a Pyodide + onnxruntime-web page needs.

COOP/COEP make the page cross-origin isolated (SharedArrayBuffer, threaded WASM); every file also says
`Cross-Origin-Resource-Policy: cross-origin` so that pages on other origins can load `/embed.js` and its
assets under their own COEP. Same-origin pages are unaffected by either.

A file with a gzip copy beside it (`name.gz`, which `python -m wasm_build` writes for the large ones) is sent as
that copy, `Content-Encoding: gzip`, to a client that accepts gzip: a first visit then downloads about half
the bytes (Pyodide's wasm 9.6 → 3.5 MB), and the browser inflates each file in one native stream.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

# Set explicitly: the stdlib's guesses depend on the host's mime.types (and browsers refuse to stream-compile
# WebAssembly served as anything but application/wasm).
MEDIA_TYPES = {
    ".wasm": "application/wasm",
    ".js": "text/javascript",
    ".mjs": "text/javascript",
    ".whl": "application/zip",
    ".onnx": "application/octet-stream",
}
HEADERS = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cross-Origin-Resource-Policy": "cross-origin",
    "X-Content-Type-Options": "nosniff",
    # Revalidate on every load: a rebuilt web/dist keeps its file names, and a 304 is cheap.
    "Cache-Control": "no-cache",
}


class WebFiles(StaticFiles):
    def file_response(
        self,
        full_path: str | os.PathLike[str],
        stat_result: os.stat_result,
        scope: Scope,
        status_code: int = 200,
    ) -> Response:
        original = Path(full_path)
        copy = original.with_name(original.name + ".gz")
        found = _regular_file(copy)
        gzipped = found is not None and _sends_copy(found, stat_result, Headers(scope=scope))
        if gzipped:
            full_path, stat_result = copy, found
        response = super().file_response(full_path, stat_result, scope, status_code)
        if response.status_code != 304:
            # the file's own type: Starlette's guess for `name.gz` is already that of `name`
            media_type = MEDIA_TYPES.get(original.suffix)
            if media_type is not None:
                response.headers["Content-Type"] = media_type
            if gzipped:
                response.headers["Content-Encoding"] = "gzip"
        if found is not None:
            response.headers["Vary"] = "Accept-Encoding"  # caches keep the two encodings apart
        response.headers.update(HEADERS)
        return response


def _sends_copy(copy: os.stat_result, original: os.stat_result, request: Headers) -> bool:
    """Whether a file's gzip copy goes out in its place: not when the client does not accept gzip or asks for a
    range (of the file's own bytes), nor when the copy is older than the file (an edit not packed again)."""
    return (
        copy.st_mtime >= original.st_mtime
        and "range" not in request
        and _accepts_gzip(request.get("accept-encoding", ""))
    )


def _accepts_gzip(accept_encoding: str) -> bool:
    """RFC 9110 §12.5.3: `gzip` or `*` listed without `q=0`."""
    for item in accept_encoding.split(","):
        coding, _, params = item.partition(";")
        if coding.strip().lower() not in ("gzip", "*"):
            continue
        q = params.strip().lower()
        if not q.startswith("q="):
            return True
        try:
            return float(q[2:]) > 0
        except ValueError:
            return False
    return False


def _regular_file(path: Path) -> os.stat_result | None:
    try:
        found = os.stat(path)
    except OSError:
        return None
    return found if stat.S_ISREG(found.st_mode) else None
