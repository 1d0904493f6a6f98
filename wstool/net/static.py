"""``wstool serve --static DIR``: plain GETs (and HEADs) answered with files from DIR.

The request path is resolved here, segment by segment, and only then handed
to ``twisted.web.static.File`` for the one regular file it names (content
type from :mod:`mimetypes`, ranges, HEAD, large files streamed). Nothing
outside DIR is ever served: ``..`` and ``.`` segments (also when sent
percent-encoded: twisted.web decodes each segment before we see it), a
segment holding ``/``, a backslash or NUL (``%2f``, ``%5c``, ``%00``), and any
path whose real location, symbolic links followed, is not inside DIR's real
location all get the same one-line 404 as a missing file. A directory is
served by its ``index.html``; without one, 404 (no listings). A directory
asked for without its trailing slash is redirected to it, so the page's
relative links resolve.
"""

from __future__ import annotations

import os
from typing import Any

from twisted.web.server import Request
from twisted.web.static import File

__all__ = ["StaticFiles"]

_BAD_IN_SEGMENT = ("/", "\\", "\x00")


class StaticFiles:
    """Files under one directory, for the plain requests of a :class:`WebSocketSite`.

    Args:
        root: the directory; it must exist.
    """

    def __init__(self, root: str) -> None:
        self.root = os.path.realpath(root)

    def resolve(self, segments: list[bytes]) -> tuple[str, bool] | None:
        """The file the decoded path ``segments`` name, and whether it is a directory's index.

        None for anything not to be served: a missing file, a name that
        cannot be decoded, a ``.``/``..`` segment, a separator inside a
        segment, or a location outside the root once links are followed.
        """
        names: list[str] = []
        for raw in segments:
            try:
                name = raw.decode("utf-8")
            except UnicodeDecodeError:
                return None
            if name in (".", "..") or any(bad in name for bad in _BAD_IN_SEGMENT):
                return None
            names.append(name)
        while names and names[-1] == "":
            names.pop()
        if "" in names:  # an empty segment in the middle: //
            return None
        path = self._inside(os.path.join(self.root, *names))
        is_index = path is not None and os.path.isdir(path)
        if path is not None and is_index:
            path = self._inside(os.path.join(path, "index.html"))
        if path is None or not os.path.isfile(path) or not os.access(path, os.R_OK):
            return None
        return path, is_index

    def _inside(self, path: str) -> str | None:
        """``path`` with every link followed, if that is still under the root."""
        real = os.path.realpath(path)
        if real != self.root and not real.startswith(self.root + os.sep):
            return None
        return real

    def render(self, request: Request) -> bytes | int:
        """Answer a plain GET or HEAD: the file, a redirect to a directory's slash, or 404."""
        segments = list(request.postpath or [b""])
        found = self.resolve(segments)
        if found is None:
            return _not_found(request)
        path, is_index = found
        if is_index and segments[-1] != b"":
            # /docs -> /docs/, so that the index page's relative links resolve.
            request.setResponseCode(301)
            location = request.path + b"/"
            query = request.uri.partition(b"?")[2]
            request.setHeader("location", location + (b"?" + query if query else b""))
            request.setHeader("content-type", "text/plain; charset=utf-8")
            return b"moved to " + location + b"\n"
        file: Any = File(path)
        result: bytes | int = file.render(request)
        return result


def _not_found(request: Request) -> bytes:
    request.setResponseCode(404)
    request.setHeader("content-type", "text/plain; charset=utf-8")
    shown = request.path.decode("latin-1")
    return f"not found: {shown}\n".encode("utf-8", "replace")
