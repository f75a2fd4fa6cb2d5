"""Loopback HTTP servers for the reliability suite: a scripted OpenAI-compatible LLM and a recording proxy."""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

PASSAGE = re.compile(r'<passage n="(\d+)"[^>]*>\n(.*?)\n</passage>', re.DOTALL)


@dataclass
class Reply:
    """How the fake LLM answers a request."""

    text: str | Callable[[dict[str, Any]], str] = ""
    status: int = 200
    stall_after: int | None = None  # streamed tokens sent before the server goes silent
    stall_s: float = 0.0
    raw: bytes | None = None  # a 200 body that is not what the protocol promises
    raw_events: list[bytes] | None = None  # server-sent events that are not JSON chunks


class FakeOpenAI(ThreadingHTTPServer):
    """POST /v1/chat/completions, answered by `reply`; keeps each request's JSON body."""

    daemon_threads = True
    block_on_close = False

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _LLMHandler)
        self.reply = Reply()
        self.requests: list[dict[str, Any]] = []
        self.released = threading.Event()  # set to end every stall at once

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}/v1"

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that gave up leave broken pipes behind; that is the point


class _LLMHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeOpenAI

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append(body)
        reply = self.server.reply
        if reply.status != 200:
            return self._send(reply.status, json.dumps({"error": {"message": "overloaded"}}).encode())
        if reply.raw is not None:
            return self._send(200, reply.raw)
        text = reply.text(body) if callable(reply.text) else reply.text
        if not body.get("stream"):
            message = {"role": "assistant", "content": text}
            choice = {"index": 0, "message": message, "finish_reason": "stop"}
            return self._send(200, json.dumps(_envelope("chat.completion", choice)).encode())
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if reply.raw_events is not None:
            for event in reply.raw_events:
                self._chunk(event)
            self._chunk(b"")
            return None
        for i, token in enumerate(re.findall(r"\s*\S+", text)):
            if i == reply.stall_after:
                self.server.released.wait(reply.stall_s)
                self.close_connection = True
                return None
            delta = {"role": "assistant", "content": token} if i == 0 else {"content": token}
            self._event({"index": 0, "delta": delta, "finish_reason": None})
        self._event({"index": 0, "delta": {}, "finish_reason": "stop"})
        self._chunk(b"data: [DONE]\n\n")
        self._chunk(b"")
        return None

    def _send(self, status: int, data: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _event(self, choice: dict[str, Any]) -> None:
        self._chunk(f"data: {json.dumps(_envelope('chat.completion.chunk', choice))}\n\n".encode())

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


def _envelope(kind: str, choice: dict[str, Any]) -> dict[str, Any]:
    return {"id": "chatcmpl-rel", "object": kind, "created": 0, "model": "fake", "choices": [choice]}


@contextlib.contextmanager
def served(server: ThreadingHTTPServer) -> Iterator[Any]:
    """Serves `server` on a thread for the duration of a fixture."""
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        released = getattr(server, "released", None)
        if released is not None:
            released.set()
        server.shutdown()
        server.server_close()


def restating(number: int, suffix: str = "") -> Callable[[dict[str, Any]], str]:
    """A reply restating the first real sentence of passage `number`, citing it."""

    def reply(body: dict[str, Any]) -> str:
        passages = dict(PASSAGE.findall(body["messages"][-1]["content"]))
        sentence = re.split(r"(?<=[.!?])\s+", passages[str(number)])[0]
        return f"{sentence.rstrip('.')} [{number}].{suffix}"

    return reply


# -- a proxy that records what the Chroma client sends ------------------------------------------


class RecordingProxy(ThreadingHTTPServer):
    """Forwards every request to `upstream_port` on loopback and remembers its headers."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, upstream_port: int) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.upstream_port = upstream_port
        self.seen: list[dict[str, str]] = []

    @property
    def port(self) -> int:
        return int(self.server_address[1])


_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


class _ProxyHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: RecordingProxy

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _forward(self) -> None:
        self.server.seen.append({k.lower(): v for k, v in self.headers.items()})
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
        upstream = http.client.HTTPConnection("127.0.0.1", self.server.upstream_port, timeout=60)
        try:
            upstream.request(self.command, self.path, body=body, headers=headers)
            reply = upstream.getresponse()
            data = reply.read()
        except OSError:
            self.send_error(502)
            return
        finally:
            upstream.close()
        self.send_response(reply.status)
        for key, value in reply.getheaders():
            if key.lower() not in _HOP:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _forward


def wait_closed(port: int, timeout: float = 10.0) -> None:
    """Waits until nothing accepts connections on a loopback port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return
        time.sleep(0.1)
    raise AssertionError(f"port {port} still accepts connections")
