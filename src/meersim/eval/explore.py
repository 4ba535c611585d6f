"""``meersim explore``: a local web page to browse crops by similarity, anomaly and truth.

The standard library's :class:`http.server.ThreadingHTTPServer` serves one page of
plain HTML/JS (``meersim/data/explore.html``, ``explore.js``, no build step) and the
JSON API it calls, answered by :class:`meersim.eval.explorer.Explorer`
(docs/explore.md documents every route). It listens on 127.0.0.1 unless told
otherwise. Requests whose ``Host`` is not the address served are refused (a
web page elsewhere cannot rebind a name to it), and POSTs must carry JSON, which a
page on another origin cannot send here without a CORS pre-flight this server never
grants.
"""

from __future__ import annotations

import errno
import json
import threading
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import parse_qs, urlsplit

from meersim.errors import InputError, MeersimError
from meersim.eval.explorer import Explorer, Forbidden, NotFound

STATIC = {"/": ("explore.html", "text/html; charset=utf-8"),
          "/explore.js": ("explore.js", "text/javascript; charset=utf-8"),
          "/explore.css": ("explore.css", "text/css; charset=utf-8")}  # fmt: skip
MAX_BODY = 64 * 1024
LOCAL_NAMES = ("127.0.0.1", "localhost", "[::1]")


def _static(name: str) -> bytes:
    return (resources.files("meersim") / "data" / name).read_bytes()


def _one(query: dict, name: str, default=None):
    values = query.get(name)
    return values[-1] if values else default


def _int(query: dict, name: str, default: int, low: int = 0, high: int = 100_000) -> int:
    text = _one(query, name)
    if text is None:
        return default
    try:
        value = int(text)
    except ValueError:
        raise InputError("explore", name, f"{text!r} is not an integer.") from None
    if not low <= value <= high:
        raise InputError("explore", name, f"must lie in {low}..{high}, got {value}.")
    return value


def _filters(query: dict) -> list[tuple[str, str, str]]:
    """``filter=column:op:value`` parameters (the value may contain colons)."""
    out = []
    for text in query.get("filter", []):
        parts = text.split(":", 2)
        if len(parts) != 3:
            raise InputError("explore", "filter", f"{text!r} is not column:op:value.")
        out.append((parts[0], parts[1], parts[2]))
    return out


class ExploreHandler(BaseHTTPRequestHandler):
    """Routes of the explorer; ``server.explorer`` answers them."""

    server_version = "meersim-explore"

    def log_message(self, format, *args):  # quiet: the CLI prints the address once
        pass

    # -- plumbing -----------------------------------------------------------------------
    def _send(self, status: int, body: bytes, content_type: str, cache: bool = False):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "max-age=3600" if cache else "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, obj, status: int = 200):
        self._send(status, json.dumps(obj, allow_nan=False).encode(), "application/json")

    def _error(self, status: int, message: str):
        self._json({"error": message, "status": status}, status)

    def _host_ok(self) -> bool:
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
        bound = self.server.server_address[0]
        return host in LOCAL_NAMES + (bound,) or self.server.any_host

    def _dispatch(self, handler):
        if not self._host_ok():
            return self._error(403, "Host header not allowed: open the address the server printed.")
        try:
            handler()
        except NotFound as exc:
            self._error(404, str(exc))
        except Forbidden as exc:
            self._error(403, str(exc))
        except MeersimError as exc:
            self._error(400, str(exc))
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as exc:  # noqa: BLE001 - one request must not stop the server
            self._error(500, f"{type(exc).__name__}: {exc}")

    # -- GET ----------------------------------------------------------------------------
    def do_GET(self):
        self._dispatch(self._get)

    def _get(self):
        url = urlsplit(self.path)
        q = parse_qs(url.query, keep_blank_values=True)
        ex: Explorer = self.server.explorer
        if url.path in STATIC:
            name, kind = STATIC[url.path]
            return self._send(200, _static(name), kind)
        if url.path == "/api/info":
            return self._json(ex.info())
        if url.path == "/api/crops":
            return self._json(ex.crops(
                sort=_one(q, "sort", "anomaly"), descending=_one(q, "order", "desc") != "asc",
                filters=_filters(q), offset=_int(q, "offset", 0, 0, 10**9),
                limit=_int(q, "limit", 60, 1, 500)))  # fmt: skip
        if url.path == "/api/crop":
            return self._json(ex.record(ex.row(_one(q, "crop"))))
        if url.path == "/api/neighbours":
            return self._json(ex.neighbours(_one(q, "crop"), _int(q, "k", 8, 1, 200),
                                            _one(q, "label") or None))  # fmt: skip
        if url.path == "/api/anomalies":
            return self._json(ex.anomalies(_int(q, "top", 50, 1, 10_000),
                                           _one(q, "refit", "0") in ("1", "true")))  # fmt: skip
        if url.path == "/api/labels":
            return self._json({"labels": {str(k): v for k, v in ex.labels.items()}})
        if url.path == "/api/thumb":
            return self._send(200, ex.thumbnail(_one(q, "crop")), "image/png", cache=True)
        if url.path == "/api/attention":
            return self._send(200, ex.attention_png(_one(q, "crop")), "image/png", cache=True)
        self._error(404, f"no route {url.path}; see docs/explore.md")

    # -- POST ---------------------------------------------------------------------------
    def do_POST(self):
        self._dispatch(self._post)

    def _body(self) -> dict:
        if not (self.headers.get("Content-Type") or "").startswith("application/json"):
            raise InputError("explore", "Content-Type", "must be application/json.")
        length = int(self.headers.get("Content-Length") or 0)
        if not 0 < length <= MAX_BODY:
            raise InputError("explore", "body", f"needs 1..{MAX_BODY} bytes of JSON.")
        try:
            body = json.loads(self.rfile.read(length))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise InputError("explore", "body", "is not valid JSON.") from None
        if not isinstance(body, dict):
            raise InputError("explore", "body", "must be a JSON object.")
        return body

    def _post(self):
        url = urlsplit(self.path)
        ex: Explorer = self.server.explorer
        if url.path == "/api/label":
            body = self._body()
            return self._json(ex.set_label(body.get("crop"), body.get("label")))
        if url.path == "/api/query":
            body = self._body()
            k = body.get("k", 8)
            if not isinstance(k, int) or not 1 <= k <= 200:
                raise InputError("explore", "k", "must be an integer in 1..200.")
            return self._json(ex.query_fits(body.get("path"), k, body.get("label") or None))
        self._error(404, f"no route {url.path}; see docs/explore.md")


class ExploreServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, explorer: Explorer | None):
        self.explorer = explorer
        self.any_host = address[0] not in ("127.0.0.1", "localhost", "::1")
        super().__init__(address, ExploreHandler)


def make_server(
    explorer: Explorer | None, host: str = "127.0.0.1", port: int = 8765
) -> ExploreServer:
    """Bind the explorer's server (port 0: any free port); a clear error if the port is taken."""
    if host in ("0.0.0.0", "::", ""):
        warnings.warn(f"explore: listening on {host or 'every address'}: anyone on the network "
                      "can read the crops and write labels.", stacklevel=2)  # fmt: skip
    try:
        return ExploreServer((host, int(port)), explorer)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise InputError(
                "explore",
                "port",
                f"{port} on {host} is already in use.",
                "Pass another --port (or --port 0 for any free one).",
            ) from None
        raise InputError("explore", "host", f"cannot listen on {host}:{port} ({exc.strerror}).",
                         "Use --host 127.0.0.1.") from None  # fmt: skip


def url_of(server: ExploreServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{port}/"


def start_in_thread(server: ExploreServer) -> threading.Thread:
    """Serve in a daemon thread (tests, notebooks); ``server.shutdown()`` stops it."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread


def explore(emb_dir, *, host: str = "127.0.0.1", port: int = 8765, ready=None, **kwargs) -> None:
    """Load ``emb_dir`` (:class:`Explorer` keyword arguments) and serve it until Ctrl-C.

    ``ready(url)`` is called once the server listens.
    """
    server = make_server(None, host, port)  # a taken port fails before the slow loading
    try:
        server.explorer = Explorer(emb_dir, **kwargs)
    except BaseException:
        server.server_close()
        raise
    if ready is not None:
        ready(url_of(server))
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
