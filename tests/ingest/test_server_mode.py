"""Acceptance: ingest and search through a real `chroma run` server; the token is sent, never shown."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from ingest_support import run_rag, run_rag_json

from ingest.pipeline import ingest_paths
from rag.errors import StoreUnavailableError
from rag.index import Index
from rag.settings import Settings

if TYPE_CHECKING:
    from collections.abc import Iterator

    from rag.embeddings import SentenceTransformerEmbeddings

SEED_ARTICLE = Path(__file__).resolve().parents[2] / "seeds" / "straits-times-us-china-fentanyl.txt"
TOKEN = "tok-3f9a1c77e2b54d08-secret"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """A real Chroma server on a free loopback port; yields (port, its data folder)."""
    path = tmp_path_factory.mktemp("chroma-server")
    port = _free_port()
    log = (path.parent / "chroma-server.log").open("wb")
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "chroma"),
            "run",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--path",
            str(path),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            assert server.poll() is None, f"chroma run exited with {server.returncode}"
            assert time.monotonic() < deadline, "chroma run did not answer its heartbeat"
            time.sleep(0.2)
        yield port, path
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


class _Recorder(BaseHTTPRequestHandler):
    """Answers every request with 500 and remembers its headers."""

    seen: list[dict[str, str]]

    def _answer(self) -> None:
        self.seen.append(dict(self.headers))
        body = b'{"error":"InternalError","message":"nope"}'
        self.send_response(500)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_DELETE = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def recording_server() -> Iterator[tuple[int, list[dict[str, str]]]]:
    """A loopback HTTP server that fails every request and records the headers it got."""
    seen: list[dict[str, str]] = []
    handler = type("Handler", (_Recorder,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1]), seen
    finally:
        server.shutdown()
        server.server_close()


def _server_settings(settings: Settings, port: int, **extra: Any) -> Settings:
    return Settings(
        data_dir=settings.data_dir, chroma_host="127.0.0.1", chroma_port=port, _env_file=None, **extra
    )


def test_ingest_and_search_through_a_chroma_server(
    chroma_server: tuple[int, Path], settings: Settings, embedder: SentenceTransformerEmbeddings
) -> None:
    port, server_path = chroma_server
    remote = _server_settings(settings, port)
    index = Index(remote, embedder)

    report = ingest_paths([SEED_ARTICLE], remote, index=index)

    assert report.counts() == {"added": 1}
    assert report.chunks > 1
    phrase = "China and the US have established a joint working group on counter-narcotics"
    hit = index.dense_search(embedder.embed_query(phrase), k=1)[0][0]
    assert hit.doc_id == SEED_ARTICLE.name
    assert phrase in hit.text
    # Nothing went to the embedded store; the server holds the data.
    assert not remote.chroma_dir.exists()
    assert (server_path / "chroma.sqlite3").is_file()

    code, stats = run_rag_json(
        ["stats"], settings.data_dir, chroma_host="127.0.0.1", chroma_port=str(port), chroma_token=TOKEN
    )
    assert code == 0
    assert stats["store"] == "server"
    assert stats["location"] == f"http://127.0.0.1:{port}"
    assert (stats["documents"], stats["chunks"]) == (1, report.chunks)
    assert TOKEN not in json.dumps(stats)
    assert not remote.chroma_dir.exists()


def test_token_is_sent_as_bearer_header(
    recording_server: tuple[int, list[dict[str, str]]],
    settings: Settings,
    embedder: SentenceTransformerEmbeddings,
) -> None:
    port, seen = recording_server
    index = Index(_server_settings(settings, port, chroma_token=TOKEN), embedder)

    with pytest.raises(StoreUnavailableError) as failure:
        index.exists()

    assert seen
    assert all(headers.get("Authorization") == f"Bearer {TOKEN}" for headers in seen)
    assert TOKEN not in str(failure.value)
    assert f"127.0.0.1:{port}" in str(failure.value)


def test_token_never_appears_in_cli_output(
    recording_server: tuple[int, list[dict[str, str]]], settings: Settings
) -> None:
    port, seen = recording_server
    env = {"chroma_host": "127.0.0.1", "chroma_port": str(port), "chroma_token": TOKEN}

    stats = run_rag(["stats", "--json"], settings.data_dir, **env)
    ingest = run_rag(["ingest", str(SEED_ARTICLE)], settings.data_dir, **env)

    assert any(headers.get("Authorization") == f"Bearer {TOKEN}" for headers in seen)
    for done in (stats, ingest):
        assert done.returncode == 2, done.stderr
        assert "Chroma server" in done.stderr
        assert TOKEN not in done.stdout + done.stderr


def test_token_not_shown_when_the_server_is_down(
    settings: Settings, embedder: SentenceTransformerEmbeddings
) -> None:
    index = Index(_server_settings(settings, _free_port(), chroma_token=TOKEN), embedder)

    with pytest.raises(StoreUnavailableError) as failure:
        index.exists()

    assert "chroma run" in str(failure.value)
    assert TOKEN not in str(failure.value)


class _FailingServerClient:
    """A Chroma client whose server answers every collection call with an internal error."""

    def get_collection(self, name: str) -> Any:
        from chromadb.errors import InternalError

        raise InternalError("Error in compaction: Failed to apply logs to the metadata segment")

    list_collections = get_collection


def test_a_server_side_internal_error_is_a_clear_message(
    settings: Settings, embedder: SentenceTransformerEmbeddings
) -> None:
    remote = _server_settings(settings, 8000)
    index = Index(remote, embedder, client=_FailingServerClient())

    with pytest.raises(StoreUnavailableError) as failure:
        index.records()

    message = str(failure.value)
    assert message.startswith("the Chroma server at http://127.0.0.1:8000 failed to open collection")
    assert "Failed to apply logs" in message and "Check the server's log and free space" in message
