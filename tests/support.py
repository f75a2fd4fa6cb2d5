"""Helpers shared by the test suites: paths, made-up articles, ports, store views.

Importing this module stays light (no model, no Chroma, no browser), so the fast tier can use it.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rag.settings import Settings

if TYPE_CHECKING:
    import numpy as np

    from rag.store import Store
    from rag.types import Answer

__all__ = [
    "REPO",
    "SEEDS",
    "SEED_ARTICLE",
    "Fact",
    "assert_verified",
    "chunk_rows",
    "forget_open_stores",
    "free_port",
    "make_settings",
    "port_is_free",
    "vector_rows",
]

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO / "seeds"
SEED_ARTICLE = SEEDS / "straits-times-us-china-fentanyl.txt"


def make_settings(data_dir: Path, **values: object) -> Settings:
    """Settings for a data folder, ignoring any .env file (the `settings` and `clean_env` fixtures clear
    the caller's RAG_* variables)."""
    return Settings(data_dir=data_dir, _env_file=None, **values)  # type: ignore[arg-type]


# -- made-up articles with one known answer each --------------------------------------------------


@dataclass(frozen=True)
class Fact:
    """A made-up article with one distinctive answer, so an answer to another question cannot pass."""

    town: str
    role: str
    person: str
    years: int

    @property
    def file_name(self) -> str:
        return self.town.lower().replace(" ", "-") + ".txt"

    @property
    def question(self) -> str:
        return f"Who is the {self.role} of {self.town}?"

    @property
    def answer_sentence(self) -> str:
        return f"{self.person} will serve as the new {self.role} of {self.town}"

    @property
    def years_sentence(self) -> str:
        return f"{self.person.split()[0]} previously spent {self.years} years"

    def article(self, number: int) -> str:
        return (
            f"Title: {self.town} names a new {self.role}\n"
            f"Source: https://news.example.org/{self.file_name[:-4]}\n"
            f"Date: 2024-0{1 + number % 9}-1{number % 10}\n\n"
            f"{self.answer_sentence} from next month, the town council said on Monday.\n\n"
            f"{self.years_sentence} working in the region, and residents of {self.town} "
            "welcomed the decision at a public meeting, the local paper reported.\n"
        )


# -- ports ----------------------------------------------------------------------------------------


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
        return True


# -- store views ----------------------------------------------------------------------------------


def forget_open_stores() -> None:
    """Drops this process's embedded Chroma clients, so the next `Store` opens its folder afresh.

    An embedded Chroma client keeps its vector index in memory; to read what another process
    wrote (or to let it write safely), the test process must open the store again.
    """
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient.clear_system_cache()


def chunk_rows(store: Store) -> dict[str, tuple[str, int, int, int, str]]:
    """Committed chunks by id, as comparable tuples."""
    return {c.chunk_id: (c.doc_id, c.index, c.start, c.end, c.text) for c in store.committed_chunks()}


def vector_rows(store: Store) -> dict[str, np.ndarray]:
    """The stored vector of each committed chunk, by id."""
    import numpy as np

    ids = sorted(chunk_rows(store))
    got = store.chunks().get(ids=ids, include=["embeddings"])
    return {
        str(i): np.asarray(v, dtype=np.float64) for i, v in zip(got["ids"], got["embeddings"], strict=True)
    }


def assert_verified(answer: Answer, store: Store) -> None:
    """The answer cites something, and every quote is its article's text at the citation's offsets."""
    assert answer.citations
    for citation in answer.citations:
        assert store.article_text(citation.doc_id)[citation.start : citation.end] == citation.quote
