"""The web app's static files, with the headers a Pyodide + onnxruntime-web page needs.

COOP/COEP make the page cross-origin isolated (SharedArrayBuffer, threaded WASM); every file also says
`Cross-Origin-Resource-Policy: cross-origin` so that pages on other origins can load `/embed.js` and its
assets under their own COEP. Same-origin pages are unaffected by either.
"""

from __future__ import annotations

import os
from pathlib import Path

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
        response = super().file_response(full_path, stat_result, scope, status_code)
        media_type = MEDIA_TYPES.get(Path(full_path).suffix)
        if media_type is not None and response.status_code != 304:
            response.headers["Content-Type"] = media_type
        response.headers.update(HEADERS)
        return response
