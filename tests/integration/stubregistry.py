"""An in-memory registry on ``http.server`` for what the real one cannot show: a Bearer token
server, tokens that expire mid-push, redirects to another host, 429/5xx answers, dropped
connections, and a registry that refuses monolithic uploads."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Fault:
    """Answer the next request matching ``method`` and ``path_part`` with ``status`` (or drop
    the connection when ``status`` is 0), ``times`` times."""

    method: str
    path_part: str
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1


@dataclass
class Seen:
    method: str
    path: str
    authorization: str | None
    content_range: str | None
    length: int


class StubRegistry:
    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.uploads: dict[str, bytearray] = {}
        self.manifests: dict[str, bytes] = {}
        self.seen: list[Seen] = []
        self.faults: list[Fault] = []
        #: Bearer mode: a token server at /token that wants these Basic credentials.
        self.bearer_user: tuple[str, str] | None = None
        self.valid_tokens: set[str] = set()
        self.tokens_issued = 0
        #: Invalidate every token after this many blob uploads (a token expiring mid-push).
        self.expire_tokens_after_uploads: int | None = None
        self.refuse_monolithic = False
        self.chunk_min_length: int | None = None
        #: Blob digest -> ``http://host:port`` its HEAD is redirected to, like a storage backend.
        self.redirect_heads: dict[str, str] = {}
        self.lock = threading.Lock()
        self.url = ""

    # --- handler logic --------------------------------------------------------------------

    def handle(self, h: BaseHTTPRequestHandler) -> None:  # noqa: PLR0915 (a route a branch)
        parts = urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        with self.lock:
            self.seen.append(
                Seen(
                    h.command,
                    parts.path,
                    h.headers.get("Authorization"),
                    h.headers.get("Content-Range"),
                    length,
                )
            )
            fault = next(
                (f for f in self.faults if f.method == h.command and f.path_part in h.path), None
            )
            if fault:
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
        if fault and fault.status == 0:
            h.close_connection = True
            h.connection.close()  # the connection drops, as when a proxy resets it
            return
        body = h.rfile.read(length) if length else b""
        if fault:
            return _reply(h, fault.status, fault.headers, b'{"errors":[{"code":"STUB"}]}')
        if parts.path == "/token":
            return self._token(h)
        if not parts.path.startswith("/v2/"):
            return _reply(h, 404)
        if self.bearer_user and h.headers.get("Authorization", "")[7:] not in self.valid_tokens:
            challenge = f'Bearer realm="{self.url}/token",service="stub"'
            return _reply(h, 401, {"WWW-Authenticate": challenge}, b'{"errors":[]}')
        if parts.path == "/v2/":
            return _reply(h, 200, body=b"{}")
        repo, kind, rest = _split(parts.path)
        query = parse_qs(parts.query)
        if kind == "blobs" and rest != "uploads/" and not rest.startswith("uploads/"):
            if rest in self.redirect_heads and h.command == "HEAD":
                return _reply(h, 307, {"Location": f"{self.redirect_heads[rest]}/storage/{rest}"})
            if rest in self.blobs:
                return _reply(h, 200, {"Content-Length": str(len(self.blobs[rest]))}, None)
            return _reply(h, 404)
        if kind == "blobs" and h.command == "POST":
            upload = uuid.uuid4().hex
            self.uploads[upload] = bytearray()
            headers = {"Location": f"/v2/{repo}/blobs/uploads/{upload}?_state=s"}
            if self.chunk_min_length:
                headers["OCI-Chunk-Min-Length"] = str(self.chunk_min_length)
            return _reply(h, 202, headers)
        if kind == "blobs":
            upload = rest.removeprefix("uploads/")
            data = self.uploads.get(upload)
            if data is None:
                return _reply(h, 404)
            if h.command == "DELETE":
                del self.uploads[upload]
                return _reply(h, 204)
            if h.command == "PATCH":
                start = int((h.headers.get("Content-Range") or "0-0").split("-")[0])
                if start != len(data):
                    return _reply(h, 416)
                data += body
                location = f"/v2/{repo}/blobs/uploads/{upload}?_state=s"
                return _reply(h, 202, {"Location": location, "Range": f"0-{len(data) - 1}"})
            if h.command == "PUT":
                if self.refuse_monolithic and not data and body:
                    return _reply(h, 413)
                data += body
                digest = query["digest"][0]
                if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
                    return _reply(h, 400, body=b'{"errors":[{"code":"DIGEST_INVALID"}]}')
                self.blobs[digest] = bytes(data)
                del self.uploads[upload]
                self._count_upload()
                return _reply(h, 201, {"Docker-Content-Digest": digest})
        if kind == "manifests" and h.command == "PUT":
            digest = "sha256:" + hashlib.sha256(body).hexdigest()
            self.manifests[rest] = body
            return _reply(h, 201, {"Docker-Content-Digest": digest})
        return _reply(h, 405)

    def _token(self, h: BaseHTTPRequestHandler) -> None:
        assert self.bearer_user is not None
        expected = base64.b64encode(":".join(self.bearer_user).encode()).decode()
        if h.headers.get("Authorization") != f"Basic {expected}":
            return _reply(h, 401)
        with self.lock:
            self.tokens_issued += 1
            token = f"tok{self.tokens_issued}"
            self.valid_tokens.add(token)
        return _reply(h, 200, body=json.dumps({"token": token}).encode())

    def _count_upload(self) -> None:
        if self.expire_tokens_after_uploads is None:
            return
        self.expire_tokens_after_uploads -= 1
        if self.expire_tokens_after_uploads == 0:
            self.valid_tokens.clear()


def _split(path: str) -> tuple[str, str, str]:
    """``/v2/a/b/blobs/uploads/x`` -> ``("a/b", "blobs", "uploads/x")``."""
    inner = path[len("/v2/") :]
    for kind in ("blobs", "manifests"):
        marker = f"/{kind}/"
        if marker in inner:
            repo, _, rest = inner.partition(marker)
            return repo, kind, rest
    return inner, "", ""


def _reply(
    h: BaseHTTPRequestHandler,
    status: int,
    headers: dict[str, str] | None = None,
    body: bytes | None = b"",
) -> None:
    h.send_response(status)
    headers = dict(headers or {})
    if body is not None:
        headers.setdefault("Content-Length", str(len(body)))
    for key, value in headers.items():
        h.send_header(key, value)
    h.end_headers()
    if body and h.command != "HEAD":
        h.wfile.write(body)


@contextmanager
def serve(stub: Any) -> Iterator[str]:
    """Run ``stub.handle`` behind a threaded HTTP/1.1 server on 127.0.0.1; yield its URL."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _any(self) -> None:
            stub.handle(self)

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = _any

    class Server(ThreadingHTTPServer):
        def handle_error(self, request: Any, client_address: Any) -> None:
            pass  # connections the stub drops on purpose

    server = Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class Storage:
    """A blob storage host: answers HEAD with 200 and records the headers it got."""

    def __init__(self) -> None:
        self.authorizations: list[str | None] = []

    def handle(self, h: BaseHTTPRequestHandler) -> None:
        self.authorizations.append(h.headers.get("Authorization"))
        _reply(h, 200, {"Content-Length": "1"}, None)
