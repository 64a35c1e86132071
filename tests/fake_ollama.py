"""A real HTTP server speaking Ollama's wire protocol, so tests drive the unmodified ``ollama`` client.

Replies follow what Ollama sends (checked against ollama-python 0.6.3's ``_client.py``/``_types.py``):
NDJSON streams with chunked transfer encoding, a final ``done: true`` line with timings, ``{"error": ..}``
bodies with HTTP status codes. Every request is recorded (method, path, JSON body) for assertions.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import socket
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self

import pytest

_CREATED_AT = "2025-01-10T12:34:56.123456789Z"
_MODIFIED_AT = "2025-01-09T08:00:00.987654321+01:00"


@dataclass(frozen=True)
class Recorded:
    """One request the server received."""

    method: str
    path: str
    body: dict | None


@dataclass
class ChatReply:
    """A scripted reply to one ``/api/chat`` request (streamed or not)."""

    text: str | list[str] = "This is a scripted answer [1]."
    #: close the connection after this many content lines, with no ``done`` line (stream cut)
    cut_after: int | None = None
    #: seconds before the response headers (slow model loading)
    delay_s: float = 0.0
    #: seconds before each content line after the first ``delay_after`` lines
    token_delay_s: float = 0.0
    delay_after: int = 0
    done_reason: str = "stop"
    #: an ``{"error": ..}`` line after the content (the runner failing mid-answer)
    error_line: str | None = None
    #: end the HTTP body cleanly but without the ``done`` line (a proxy or server cutting short)
    omit_done: bool = False
    #: answer with this HTTP status and ``{"error": message}`` instead (e.g. 500: the model did not fit in memory)
    http_error: tuple[int, str] | None = None

    def tokens(self) -> list[str]:
        if isinstance(self.text, list):
            return list(self.text)
        return re.findall(r"\S+\s*|\s+", self.text)


@dataclass
class FakeModel:
    name: str
    family: str = "llama"
    context_length: int = 131072
    num_ctx: int | None = None
    size: int = 2_019_393_189
    #: length of the vectors ``/api/embed`` returns (and ``<family>.embedding_length`` in ``/api/show``)
    embedding_length: int = 3072
    #: Ollama returns unit vectors; False sends raw ones (to check that the client normalises)
    unit_vectors: bool = True
    capabilities: tuple[str, ...] = ("completion", "tools")

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.name.encode()).hexdigest()


def canonical(name: str) -> str:
    """Ollama's own rule: an untagged name means ``:latest``."""
    return name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"


@dataclass
class FakeOllama:
    """The fake server; use as a context manager or through the ``fake_ollama`` fixture."""

    models: dict[str, FakeModel] = field(default_factory=dict)
    chat_replies: deque[ChatReply] = field(default_factory=deque)
    requests: list[Recorded] = field(default_factory=list)
    show_delay_s: float = 0.0
    unpullable: set[str] = field(default_factory=set)
    pull_layers: tuple[int, ...] = (1_000_000, 7_000)
    #: hang up a streamed pull after this many progress lines (a download that breaks)
    pull_cut_after: int | None = None
    version: str = "0.6.5"
    #: answer ``/api/embed`` with this HTTP status and ``{"error": message}`` (e.g. 500: out of memory)
    embed_error: tuple[int, str] | None = None

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> Self:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.fake = self
        # A short poll interval makes shutdown (once per test) quick.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, name="fake-ollama", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving; safe to call twice (a test may stop it to simulate Ollama going away)."""
        self._stop.set()  # wakes handlers sleeping in slow modes
        server, thread, self._server, self._thread = self._server, self._thread, None, None
        if server is not None:
            server.shutdown()
            server.server_close()
            server.drop_connections()  # as a real server exiting does; keep-alive ones would linger
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "server not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def installed(self) -> list[FakeModel]:
        with self._lock:
            return list(self.models.values())

    # -- scripting -------------------------------------------------------------------------------
    def add_model(self, name: str, **kwargs: object) -> FakeModel:
        model = FakeModel(canonical(name), **kwargs)  # type: ignore[arg-type]
        with self._lock:
            self.models[model.name] = model
        return model

    def queue_chat(self, text: str | list[str] = "This is a scripted answer [1].", **kwargs: object) -> ChatReply:
        reply = ChatReply(text, **kwargs)  # type: ignore[arg-type]
        with self._lock:
            self.chat_replies.append(reply)
        return reply

    def requests_to(self, path: str) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    @property
    def chat_requests(self) -> list[Recorded]:
        return self.requests_to("/api/chat")

    @property
    def embed_inputs(self) -> list[list[str]]:
        """The texts of each ``/api/embed`` request, as a list per request."""
        inputs = [(r.body or {}).get("input", []) for r in self.requests_to("/api/embed")]
        return [[i] if isinstance(i, str) else list(i) for i in inputs]

    # -- used by the handler ----------------------------------------------------------------------
    def _record(self, request: Recorded) -> None:
        with self._lock:
            self.requests.append(request)

    def _model(self, name: str) -> FakeModel | None:
        with self._lock:
            return self.models.get(canonical(name))

    def _next_reply(self) -> ChatReply:
        with self._lock:
            return self.chat_replies.popleft() if self.chat_replies else ChatReply()

    def _sleep(self, seconds: float) -> bool:
        """Sleep unless the server is stopping; False when it is."""
        return not self._stop.wait(seconds) if seconds > 0 else True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    fake: FakeOllama

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()

    def track(self, conn: socket.socket, *, open_: bool) -> None:
        with self._connections_lock:
            (self._connections.add if open_ else self._connections.discard)(conn)

    def drop_connections(self) -> None:
        with self._connections_lock:
            connections, self._connections = list(self._connections), set()
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: object, client_address: object) -> None:
        # Clients that time out hang up on purpose; a broken pipe then is expected, not a failure.
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # needed for chunked streaming, as Ollama does
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection, open_=True)

    def finish(self) -> None:
        self.server.track(self.connection, open_=False)
        super().finish()

    # -- plumbing --------------------------------------------------------------------------------
    def _body(self) -> dict | None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return json.loads(raw) if raw else None

    def _json(self, status: int, payload: object) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _line(self, payload: dict) -> None:
        data = json.dumps(payload).encode() + b"\n"
        self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _not_found_page(self) -> None:
        data = b"404 page not found"
        self.send_response(404)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    # -- routes ----------------------------------------------------------------------------------
    def do_GET(self) -> None:
        fake = self.server.fake
        fake._record(Recorded("GET", self.path, None))
        if self.path == "/api/version":
            self._json(200, {"version": fake.version})
        elif self.path == "/api/tags":
            self._json(200, {"models": [_tag(m) for m in fake.installed()]})
        else:
            self._not_found_page()

    def do_POST(self) -> None:
        fake = self.server.fake
        body = self._body()
        fake._record(Recorded("POST", self.path, body))
        body = body or {}
        routes = {"/api/chat": self._chat, "/api/show": self._show, "/api/pull": self._pull, "/api/embed": self._embed}
        route = routes.get(self.path)
        if route is None:
            self._not_found_page()
        else:
            route(body)

    def _show(self, body: dict) -> None:
        fake = self.server.fake
        if not fake._sleep(fake.show_delay_s):
            return
        name = body.get("model") or body.get("name") or ""
        model = fake._model(name)
        if model is None:
            self._json(404, {"error": f"model '{name}' not found"})
            return
        self._json(200, _show(model))

    def _pulled(self, body: dict) -> tuple[str, object] | None:
        """The requested model's name and entry, or None after answering 404 as Ollama does."""
        name = body.get("model", "")
        model = self.server.fake._model(name)
        if model is None:
            self._json(404, {"error": f'model "{name}" not found, try pulling it first'})
            return None
        return name, model

    def _chat(self, body: dict) -> None:
        fake = self.server.fake
        if (pulled := self._pulled(body)) is None:
            return
        name, model = pulled
        reply = fake._next_reply()
        if not fake._sleep(reply.delay_s):
            return
        if reply.http_error is not None:
            status, message = reply.http_error
            self._json(status, {"error": message})
            return
        tokens = reply.tokens()
        prompt_tokens = sum(len(m.get("content", "")) for m in body.get("messages", [])) // 4
        if body.get("stream", True) is False:
            self._json(
                200,
                _chat_line(
                    name,
                    "".join(tokens),
                    done=True,
                    reply=reply,
                    prompt_tokens=prompt_tokens,
                    eval_count=len(tokens),
                ),
            )
            return
        self._start_stream()
        for i, token in enumerate(tokens):
            if reply.cut_after is not None and i >= reply.cut_after:
                self.close_connection = True  # hang up mid-body: no done line, no final chunk
                return
            if i >= reply.delay_after and not fake._sleep(reply.token_delay_s):
                self.close_connection = True
                return
            self._line(_chat_line(name, token))
        if reply.error_line is not None:
            self._line({"error": reply.error_line})
        elif not reply.omit_done:
            self._line(
                _chat_line(name, "", done=True, reply=reply, prompt_tokens=prompt_tokens, eval_count=len(tokens))
            )
        self._end_stream()

    def _embed(self, body: dict) -> None:
        fake = self.server.fake
        if (pulled := self._pulled(body)) is None:
            return
        name, model = pulled
        if fake.embed_error is not None:
            status, message = fake.embed_error
            self._json(status, {"error": message})
            return
        given = body.get("input", [])
        texts = [given] if isinstance(given, str) else list(given)
        self._json(
            200,
            {
                "model": name,
                "embeddings": [word_vector(t, model.embedding_length, unit=model.unit_vectors) for t in texts],
                "total_duration": 14_143_917,
                "load_duration": 1_019_500,
                "prompt_eval_count": sum(len(_WORD.findall(t)) for t in texts),
            },
        )

    def _pull(self, body: dict) -> None:
        fake = self.server.fake
        name = canonical(body.get("model") or body.get("name") or "")
        if body.get("stream", True) is False:
            if name in fake.unpullable:
                self._json(500, {"error": "pull model manifest: file does not exist"})
            else:
                fake.add_model(name)
                self._json(200, {"status": "success"})
            return
        self._start_stream()
        self._line({"status": "pulling manifest"})
        if name in fake.unpullable:
            self._line({"error": "pull model manifest: file does not exist"})
            self._end_stream()
            return
        sent = 0
        for index, total in enumerate(fake.pull_layers):
            digest = hashlib.sha256(f"{name}/{index}".encode()).hexdigest()
            for completed in (0, total // 2, total):
                if fake.pull_cut_after is not None and sent >= fake.pull_cut_after:
                    self.close_connection = True  # hang up mid-body, as a dropped download does
                    return
                sent += 1
                self._line(
                    {
                        "status": f"pulling {digest[:12]}",
                        "digest": f"sha256:{digest}",
                        "total": total,
                        "completed": completed,
                    }
                )
        for status in ("verifying sha256 digest", "writing manifest", "success"):
            self._line({"status": status})
        self._end_stream()
        fake.add_model(name)


def _chat_line(
    model: str,
    content: str,
    *,
    done: bool = False,
    reply: ChatReply | None = None,
    prompt_tokens: int = 0,
    eval_count: int = 0,
) -> dict:
    line: dict = {
        "model": model,
        "created_at": _CREATED_AT,
        "message": {"role": "assistant", "content": content},
        "done": done,
    }
    if done:
        line.update(
            done_reason=reply.done_reason if reply else "stop",
            total_duration=4_883_583_458,
            load_duration=1_334_875,
            prompt_eval_count=prompt_tokens,
            prompt_eval_duration=342_546_000,
            eval_count=eval_count,
            eval_duration=4_535_599_000,
        )
    return line


def _details(model: FakeModel) -> dict:
    return {
        "parent_model": "",
        "format": "gguf",
        "family": model.family,
        "families": [model.family],
        "parameter_size": "3.2B",
        "quantization_level": "Q4_K_M",
    }


def _tag(model: FakeModel) -> dict:
    return {
        "name": model.name,
        "model": model.name,
        "modified_at": _MODIFIED_AT,
        "size": model.size,
        "digest": model.digest,
        "details": _details(model),
    }


def _show(model: FakeModel) -> dict:
    parameters = [
        'stop                           "<|start_header_id|>"',
        'stop                           "<|end_header_id|>"',
        'stop                           "<|eot_id|>"',
    ]
    if model.num_ctx is not None:
        parameters.append(f"num_ctx                        {model.num_ctx}")
    return {
        "license": "LLAMA 3.2 COMMUNITY LICENSE AGREEMENT",
        "modelfile": f'# Modelfile generated by "ollama show"\nFROM {model.name}\n',
        "parameters": "\n".join(parameters),
        "template": "<|start_header_id|>system<|end_header_id|>\n\n{{ .System }}<|eot_id|>",
        "details": _details(model),
        "model_info": {
            "general.architecture": model.family,
            "general.file_type": 15,
            "general.parameter_count": 3_212_749_888,
            f"{model.family}.context_length": model.context_length,
            f"{model.family}.embedding_length": model.embedding_length,
            f"{model.family}.block_count": 28,
        },
        "capabilities": list(model.capabilities),
        "modified_at": _MODIFIED_AT,
    }


_WORD = re.compile(r"\w+")


def word_vector(text: str, dim: int, *, unit: bool = True) -> list[float]:
    """A deterministic stand-in for an embedding: each lower-cased word adds ±1 in a dimension its hash picks.

    Texts sharing words get close vectors, so retrieval through the real pipeline can find the right chunk.
    """
    vector = [0.0] * dim
    for word in _WORD.findall(text.lower()):
        digest = hashlib.sha256(word.encode()).digest()
        vector[int.from_bytes(digest[:4], "big") % dim] += 1.0 if digest[4] & 1 else -1.0
    norm = sum(v * v for v in vector) ** 0.5
    return [v / norm for v in vector] if unit and norm else vector


def dead_host() -> str:
    """An address where nothing listens (a port just released), for "server not running"."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def fake_ollama() -> Iterator[FakeOllama]:
    """A running fake server with ``llama3.2`` installed."""
    with FakeOllama() as server:
        server.add_model("llama3.2")
        yield server
