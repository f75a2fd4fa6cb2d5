"""The `llm` answerer built from settings, talking to a scripted OpenAI-compatible server on loopback."""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from pydantic import SecretStr

from ingest.pipeline import ingest_paths
from rag.answering import AnswerRequest, make_answerer
from rag.assistant import Assistant
from rag.errors import BackendUnavailableError
from rag.index import Index
from rag.llm import SYSTEM_PROMPT
from rag.settings import Settings
from rag.text import sentence_spans, words
from rag.types import Answer
from tests.support import assert_verified

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator


REPO = Path(__file__).resolve().parents[2]
SEEDS = REPO / "seeds"
QUESTION = "What is the leading cause of death for Americans aged 18 to 45?"
API_KEY = "sk-test-0123456789abcdef"
PASSAGE = re.compile(r'<passage n="(\d+)"[^>]*>\n(.*?)\n</passage>', re.DOTALL)


# -- the fake server ------------------------------------------------------------------------------


@dataclass
class Reply:
    """How the server answers one request."""

    text: str | Callable[[dict[str, Any]], str] = ""
    status: int = 200
    error: str = "the model crashed"
    delay_s: float = 0.0
    drop_after: int | None = None  # streamed chunks sent before the connection is cut
    raw: bytes | None = None  # a body that is not what the protocol promises


class FakeOpenAI(ThreadingHTTPServer):
    """POST /v1/chat/completions, plain JSON or `stream: true` server-sent events; records requests."""

    daemon_threads = True
    block_on_close = False

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.replies: list[Reply] = []
        self.requests: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}/v1"

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that time out or are cut off leave broken pipes behind; that is the point

    def next_reply(self) -> Reply:
        return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeOpenAI

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.requests.append(
            {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "json": body}
        )
        reply = self.server.next_reply()
        time.sleep(reply.delay_s)
        if self.path != "/v1/chat/completions":
            return self._send(404, {"error": {"message": f"no route {self.path}"}})
        if reply.status != 200:
            return self._send(reply.status, {"error": {"message": reply.error, "type": "server_error"}})
        if reply.raw is not None:
            return self._send(200, reply.raw)
        text = reply.text(body) if callable(reply.text) else reply.text
        if not body.get("stream"):
            return self._send(200, _completion(text))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i, token in enumerate(re.findall(r"\s*\S+", text)):
            if reply.drop_after is not None and i == reply.drop_after:
                self.wfile.write(b'40\r\ndata: {"trunc')  # half a chunk, then the connection dies
                self.wfile.flush()
                self.connection.shutdown(socket.SHUT_RDWR)
                self.close_connection = True
                return None
            self._event(_chunk({"role": "assistant", "content": token} if i == 0 else {"content": token}))
        self._event(_chunk({}, finish="stop"))
        self._write_chunk(b"data: [DONE]\n\n")
        self._write_chunk(b"")
        return None

    def _send(self, status: int, payload: Any) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _event(self, payload: dict[str, Any]) -> None:
        self._write_chunk(f"data: {json.dumps(payload)}\n\n".encode())

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()


def _chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "fake",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _completion(text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 0,
        "model": "fake",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }


def quoting(*numbers: int, extra: str = "") -> Callable[[dict[str, Any]], str]:
    """A reply that restates a sentence of each numbered passage the request holds, citing it."""

    def reply(body: dict[str, Any]) -> str:
        passages = dict(PASSAGE.findall(body["messages"][-1]["content"]))
        sentences = []
        for n in numbers:
            text = passages[str(n)]
            sentence = next(text[a:b] for a, b in sentence_spans(text) if len(words(text[a:b])) >= 6)
            sentences.append(f"{sentence.rstrip('.”')} [{n}].")
        return " ".join(sentences) + extra

    return reply


# -- fixtures -------------------------------------------------------------------------------------


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI()
    thread = threading.Thread(target=fake.serve_forever, daemon=True)
    thread.start()
    yield fake
    fake.shutdown()
    fake.server_close()


Seeded = tuple[Settings, Index]


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory, embedder: Any) -> Iterator[Seeded]:
    """Settings and a real index holding the seed article, shared by this module's tests."""
    with pytest.MonkeyPatch.context() as patch:
        for name in [n for n in os.environ if n.startswith("RAG_")]:
            patch.delenv(name)
        settings = Settings(data_dir=tmp_path_factory.mktemp("seeded") / "data", _env_file=None)
        index = Index(settings, embedder)
        assert not ingest_paths([SEEDS], settings, index=index, progress=False).failed
        yield settings, index


def llm_settings(settings: Settings, server: FakeOpenAI, **updates: Any) -> Settings:
    values = {
        "answerer": "llm",
        "llm_base_url": server.url,
        "llm_model": "fake",
        "llm_api_key": SecretStr(API_KEY),
        "llm_timeout_s": 5.0,
    }
    return settings.model_copy(update=values | updates)


def ask(settings: Settings, embedder: Any, index: Index, history: Any = ()) -> tuple[list[str], Answer]:
    assistant = Assistant(settings, embedder=embedder, index=index)
    pieces = list(assistant.stream(QUESTION, history))
    answer = pieces[-1]
    assert isinstance(answer, Answer)
    return [p for p in pieces if isinstance(p, str)], answer


# -- answers --------------------------------------------------------------------------------------


def test_streamed_answer_arrives_in_pieces_and_verifies(
    seeded: Seeded, embedder: Any, server: FakeOpenAI
) -> None:
    settings, index = seeded
    server.replies = [Reply(quoting(1, 2))]
    pieces, answer = ask(llm_settings(settings, server), embedder, index)
    assert len(pieces) >= 5
    assert answer.answerer == "llm" and not answer.abstained
    assert answer.text == "".join(pieces)
    assert [c.n for c in answer.citations] == [1, 2] and all(c.supported for c in answer.citations)
    assert_verified(answer, index)

    (request,) = server.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["json"]["stream"] is True and request["json"]["model"] == "fake"
    assert request["json"]["temperature"] == 0
    system, user = request["json"]["messages"]
    assert system == {"role": "system", "content": SYSTEM_PROMPT}
    assert user["role"] == "user" and user["content"].rstrip().endswith(f"Question: {QUESTION}")


def test_non_streamed_answer(seeded: Seeded, embedder: Any, server: FakeOpenAI) -> None:
    settings, index = seeded
    server.replies = [Reply(quoting(1))]
    configured = llm_settings(settings, server)
    passages = Assistant(configured, embedder=embedder, index=index).retriever.search(QUESTION)
    draft = make_answerer("llm", configured).answer(AnswerRequest(question=QUESTION, passages=passages))
    assert not draft.abstained and draft.notes == ()
    (citation,) = draft.citations
    assert citation.chunk_id == passages[0].chunk_id and citation.supported
    assert index.article_text(citation.doc_id)[citation.start : citation.end] == citation.quote
    assert not server.requests[0]["json"].get("stream")


def test_citation_of_a_passage_not_given_is_removed(
    seeded: Seeded, embedder: Any, server: FakeOpenAI
) -> None:
    settings, index = seeded
    server.replies = [Reply(quoting(1, extra=" It was also widely reported [7]."))]
    _, answer = ask(llm_settings(settings, server), embedder, index)
    assert "[7]" not in answer.text and answer.text.endswith("It was also widely reported.")
    assert len(answer.citations) == 1
    assert any("passage(s) 7" in note for note in answer.notes)
    assert_verified(answer, index)


def test_reply_citing_nothing(seeded: Seeded, embedder: Any, server: FakeOpenAI) -> None:
    settings, index = seeded
    server.replies = [Reply("Fentanyl is the leading cause of death for Americans aged 18 to 45.")]
    _, answer = ask(llm_settings(settings, server), embedder, index)
    assert answer.answerer == "llm"
    assert answer.text == "Fentanyl is the leading cause of death for Americans aged 18 to 45."
    assert answer.citations == ()
    assert any("cited no passage" in note for note in answer.notes)


def test_follow_up_is_condensed_by_the_server(seeded: Seeded, embedder: Any, server: FakeOpenAI) -> None:
    settings, index = seeded
    server.replies = [Reply(QUESTION), Reply(quoting(1))]
    history = [("What is fentanyl?", "A synthetic opioid [1].")]
    assistant = Assistant(llm_settings(settings, server), embedder=embedder, index=index)
    answer = assistant.ask("Who does it kill most?", history)
    assert answer.rewritten_query == QUESTION
    assert [bool(r["json"].get("stream")) for r in server.requests] == [False, True]


# -- failures -------------------------------------------------------------------------------------


def test_http_500_falls_back_to_extractive(seeded: Seeded, embedder: Any, server: FakeOpenAI) -> None:
    settings, index = seeded
    server.replies = [Reply(status=500)]
    _, answer = ask(llm_settings(settings, server), embedder, index)
    assert answer.answerer == "extractive" and answer.citations
    (note,) = [n for n in answer.notes if "extractively" in n]
    assert "answered HTTP 500" in note and "the model crashed" in note
    assert "Traceback" not in note

    strict = Assistant(llm_settings(settings, server, llm_fallback=False), embedder=embedder, index=index)
    with pytest.raises(BackendUnavailableError, match="answered HTTP 500"):
        strict.ask(QUESTION)


def test_stream_cut_midway(seeded: Seeded, embedder: Any, server: FakeOpenAI) -> None:
    settings, index = seeded
    server.replies = [Reply(quoting(1, 2), drop_after=4)]
    configured = llm_settings(settings, server)
    _, answer = ask(configured, embedder, index)
    assert answer.answerer == "extractive"
    assert any("closed the connection before the answer was complete" in n for n in answer.notes)

    passages = Assistant(configured, embedder=embedder, index=index).retriever.search(QUESTION)
    answerer = make_answerer("llm", configured)
    with pytest.raises(BackendUnavailableError, match="closed the connection"):
        list(answerer.stream(AnswerRequest(question=QUESTION, passages=passages)))


def test_slow_server_times_out(seeded: Seeded, embedder: Any, server: FakeOpenAI) -> None:
    settings, index = seeded
    server.replies = [Reply(quoting(1), delay_s=3.0)]
    configured = llm_settings(settings, server, llm_timeout_s=1.0)
    _, answer = ask(configured, embedder, index)
    assert answer.answerer == "extractive"
    assert any("did not answer in time" in n for n in answer.notes)

    passages = Assistant(configured, embedder=embedder, index=index).retriever.search(QUESTION)
    answerer = make_answerer("llm", configured)
    started = time.monotonic()
    with pytest.raises(BackendUnavailableError, match="did not answer in time"):
        list(answerer.stream(AnswerRequest(question=QUESTION, passages=passages)))
    assert time.monotonic() - started < 2.5


def test_unreachable_server(seeded: Seeded, embedder: Any, server: FakeOpenAI) -> None:
    settings, index = seeded
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    configured = llm_settings(settings, server, llm_base_url=f"http://127.0.0.1:{port}/v1")
    _, answer = ask(configured, embedder, index)
    assert answer.answerer == "extractive"
    assert any(f"at http://127.0.0.1:{port}/v1 could not be reached" in n for n in answer.notes)


def test_malformed_responses(seeded: Seeded, embedder: Any, server: FakeOpenAI) -> None:
    settings, index = seeded
    server.replies = [Reply(raw=b"<html>not an API</html>")]
    configured = llm_settings(settings, server)
    passages = Assistant(configured, embedder=embedder, index=index).retriever.search(QUESTION)
    answerer = make_answerer("llm", configured)
    request = AnswerRequest(question=QUESTION, passages=passages)
    with pytest.raises(BackendUnavailableError, match="could not be used"):
        list(answerer.stream(request))
    with pytest.raises(BackendUnavailableError, match="could not be used"):
        answerer.answer(request)


def test_api_key_is_sent_but_never_shown(seeded: Seeded, embedder: Any, server: FakeOpenAI) -> None:
    settings, index = seeded
    server.replies = [Reply(status=401, error=f"Incorrect API key provided: {API_KEY}")]
    configured = llm_settings(settings, server)
    _, answer = ask(configured, embedder, index)
    assert server.requests[0]["headers"]["authorization"] == f"Bearer {API_KEY}"
    assert answer.answerer == "extractive"
    assert any("answered HTTP 401" in n for n in answer.notes)
    assert all(API_KEY not in n for n in answer.notes)

    strict = Assistant(llm_settings(settings, server, llm_fallback=False), embedder=embedder, index=index)
    with pytest.raises(BackendUnavailableError) as caught:
        strict.ask(QUESTION)
    assert API_KEY not in str(caught.value) and "***" in str(caught.value)
