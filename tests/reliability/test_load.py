"""Load: many chat sessions at once through the Gradio client API against a real `rag chat` process.

Each client holds its own session and asks a mix of questions — a fact, a follow-up that only
its own history can resolve, a question about the seed article, one the articles cannot answer —
for a bounded time. Every answer must cite the passage of its own question; nothing may fail.
"""

from __future__ import annotations

import os
import random
import statistics
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import pytest
from gradio_client import Client
from reliability_support import (
    BIN,
    FACTS,
    SEED_QUESTIONS,
    UNANSWERABLE,
    Question,
    fact_question,
    follow_up,
    html_problem,
    percentile,
    rss_mb,
    sized,
    stop,
    wait_for_http,
    write_artifact,
)

from tests.support import free_port

if TYPE_CHECKING:
    from collections.abc import Iterator

    from rag.settings import Settings

pytestmark = pytest.mark.slow

CLIENTS = sized(8, 16)
SECONDS = sized(15, 120)


@pytest.fixture(scope="module")
def chat_server(seeded: Settings) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`rag chat` over the seeded index, on a free loopback port, in its own process."""
    data_dir = seeded.data_dir
    port = free_port()
    log = data_dir.parent / "chat-server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env |= {
        "RAG_DATA_DIR": str(data_dir),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "ANONYMIZED_TELEMETRY": "False",
        "GRADIO_ANALYTICS_ENABLED": "False",
    }
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(BIN / "rag"), "chat", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            cwd=data_dir.parent,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_http(f"http://127.0.0.1:{port}/", process, 240, log)
        yield f"http://127.0.0.1:{port}/", process
    finally:
        stop(process)


def _conversation(rng: random.Random) -> list[Question]:
    """One conversation of the mix: mostly facts (half with a follow-up), some seed and unanswerable."""
    roll = rng.random()
    if roll < 0.6:
        fact = rng.choice(FACTS)
        return [fact_question(fact), follow_up(fact)] if rng.random() < 0.5 else [fact_question(fact)]
    if roll < 0.85:
        return [rng.choice(SEED_QUESTIONS)]
    return [rng.choice(UNANSWERABLE)]


def _last_message(chat: Any) -> str:
    content = chat[-1]["content"] if chat else ""
    if isinstance(content, list):
        content = "".join(part.get("text", "") for part in content)
    return str(content)


def _session(number: int, url: str, start: threading.Barrier, seconds: float) -> list[dict[str, Any]]:
    """Asks conversations until the time is up; one record per question."""
    rng = random.Random(number)
    client = Client(url, verbose=False, analytics_enabled=False)
    records: list[dict[str, Any]] = []
    try:
        start.wait(timeout=120)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            client.predict(api_name="/clear")
            for turn, question in enumerate(_conversation(rng)):
                record: dict[str, Any] = {"client": number, "kind": question.kind, "question": question.text}
                began = time.perf_counter()
                try:
                    _, chat, panel = client.predict(question.text, api_name="/ask")
                except Exception as exc:  # a failed request is a finding, recorded like any other
                    record |= {"seconds": time.perf_counter() - began, "error": repr(exc)[:500]}
                else:
                    record["seconds"] = time.perf_counter() - began
                    record["problem"] = html_problem(_last_message(chat), panel, turn, question)
                records.append(record)
                if record.get("error") or record.get("problem"):
                    break  # a follow-up to a wrong answer says nothing more
    finally:
        client.close()
    return records


def test_parallel_sessions_each_get_their_own_answers(
    chat_server: tuple[str, subprocess.Popen[bytes]],
) -> None:
    url, process = chat_server
    warm = Client(url, verbose=False, analytics_enabled=False)
    warm.predict(FACTS[0].question, api_name="/ask")  # the first question loads the model
    warm.close()
    rss_before = rss_mb(process.pid)

    start = threading.Barrier(CLIENTS)
    began = time.monotonic()
    with ThreadPoolExecutor(CLIENTS) as pool:
        sessions = list(pool.map(lambda n: _session(n, url, start, SECONDS), range(CLIENTS)))
    elapsed = time.monotonic() - began
    records = [record for session in sessions for record in session]

    latencies = [r["seconds"] for r in records if "error" not in r]
    errors = [r for r in records if "error" in r]
    wrong = [r for r in records if r.get("problem")]
    by_kind = {}
    for kind in sorted({r["kind"] for r in records}):
        times = [r["seconds"] for r in records if r["kind"] == kind and "error" not in r]
        by_kind[kind] = {
            "questions": len([r for r in records if r["kind"] == kind]),
            "p50_s": round(percentile(times, 0.5), 3),
            "p95_s": round(percentile(times, 0.95), 3),
        }
    figures = {
        "clients": CLIENTS,
        "seconds_asked": SECONDS,
        "seconds_elapsed": round(elapsed, 1),
        "questions": len(records),
        "answered": len(records) - len(errors),
        "throughput_qps": round(len(records) / elapsed, 2),
        "latency_s": {
            "p50": round(percentile(latencies, 0.5), 3),
            "p95": round(percentile(latencies, 0.95), 3),
            "max": round(max(latencies, default=0.0), 3),
            "mean": round(statistics.fmean(latencies), 3) if latencies else 0.0,
        },
        "by_kind": by_kind,
        "per_client_questions": [len(s) for s in sessions],
        "errors": len(errors),
        "wrong_answers": len(wrong),
        "lost": len(errors) + len(wrong),
        "server_rss_mb": {"before": round(rss_before, 1), "after": round(rss_mb(process.pid), 1)},
        "failures": (errors + wrong)[:20],
    }
    write_artifact("load", figures)

    assert process.poll() is None, "the chat server died under load"
    assert not errors, errors[:5]
    assert not wrong, wrong[:5]
    assert all(len(s) >= 3 for s in sessions), figures["per_client_questions"]
    assert {"fact", "follow-up", "seed", "unanswerable"} <= set(by_kind), by_kind
