"""Reads and extends ``data/nlu.yml`` without disturbing what trainers wrote by hand.

A round-trip YAML load and dump (ruamel.yaml) keeps the file's comments, the
order of its intents and examples, its quoting and its block scalars, so that
approving three examples shows up in ``git diff`` as three added lines.
"""

from __future__ import annotations

import io
import re
import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.scalarstring import LiteralScalarString

from bot.brand import PROJECT_ROOT
from bot.review.redaction import plain_text

NLU_FILE = PROJECT_ROOT / "data" / "nlu.yml"
_LIST_ITEM = re.compile(r"^\s*-\s?", re.MULTILINE)
_HANDLE_OR_LINK = re.compile(r"@\w+|https?://\S+|#")
_NOT_WORD = re.compile(r"[^\w<>]+")


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    # ruamel's stubs type these attributes as None.
    yaml.preserve_quotes = True  # type: ignore[assignment]
    yaml.width = 4096  # type: ignore[assignment]  # never fold a long example over two lines
    yaml.indent(mapping=2, sequence=2, offset=0)
    yaml.allow_unicode = True
    return yaml


def normalise(text: str) -> str:
    """What two examples share when they say the same: no markup, case, handles or punctuation."""
    text = unicodedata.normalize("NFKC", plain_text(text)).casefold()
    text = _HANDLE_OR_LINK.sub(" ", text)
    return " ".join(_NOT_WORD.sub(" ", text).split())


@dataclass(frozen=True)
class Example:
    """One training example of an intent, as written in the file (with annotations)."""

    intent: str
    text: str


class NluFile:
    """``data/nlu.yml`` (or another Rasa NLU file), loaded for reading and careful editing."""

    def __init__(self, path: Path = NLU_FILE) -> None:
        self.path = path
        self._yaml = _yaml()
        self._doc: Any = self._yaml.load(path.read_text(encoding="utf-8"))
        self._normalised: dict[str, str] | None = None

    def _entries(self) -> Iterator[Any]:
        for entry in self._doc.get("nlu") or []:
            if "intent" in entry and "examples" in entry:
                yield entry

    def intents(self) -> list[str]:
        """Every intent the file has examples for (retrieval intents with their sub-intent)."""
        return list(dict.fromkeys(str(entry["intent"]) for entry in self._entries()))

    def examples(self) -> Iterator[Example]:
        """All examples, in file order."""
        for entry in self._entries():
            for text in _split_examples(str(entry["examples"])):
                yield Example(str(entry["intent"]), text)

    def find(self, text: str) -> Example | None:
        """The example that says the same as ``text`` (see :func:`normalise`), if any."""
        if self._normalised is None:
            self._normalised = {normalise(e.text): e.intent for e in self.examples()}
        key = normalise(text)
        intent = self._normalised.get(key)
        return Example(intent, text) if intent is not None and key else None

    def add(self, intent: str, texts: Iterable[str], also: str | None = None) -> list[str]:
        """Appends examples to an intent's block; returns those added (not already there).

        With ``also``, to the intent's block of examples that carry that second intent
        (``metadata: {also: ...}``, in_rasa/nlu/second_intent.py), made after the intent's
        last block if there is none yet.
        """
        entry = self._block(intent, also)
        added = []
        for text in texts:
            line = " ".join(text.split())  # an example is one line
            if not line or self.find(line) is not None:
                continue
            added.append(line)
            assert self._normalised is not None
            self._normalised[normalise(line)] = intent
        if added:
            body = str(entry["examples"])
            body = body if body.endswith("\n") or not body else body + "\n"
            entry["examples"] = LiteralScalarString(body + "".join(f"- {t}\n" for t in added))
        return added

    def _block(self, intent: str, also: str | None) -> Any:
        blocks = [e for e in self._entries() if str(e["intent"]) == intent]
        if not blocks:
            raise KeyError(f"{self.path.name} has no intent {intent!r}")
        for block in blocks:
            if (block.get("metadata") or {}).get("also") == also:
                return block
        if also is None:
            raise KeyError(f"{self.path.name} has no plain block of {intent!r}")
        block = CommentedMap()
        block["intent"] = intent
        block["metadata"] = CommentedMap(also=also)
        block["examples"] = LiteralScalarString("")
        entries = self._doc["nlu"]
        entries.insert(entries.index(blocks[-1]) + 1, block)
        return block

    def dumps(self) -> str:
        """The file's text as it would be saved."""
        out = io.StringIO()
        self._yaml.dump(self._doc, out)
        return out.getvalue()

    def save(self) -> None:
        """Writes the file back (atomically: a crash leaves the old or the new file)."""
        temporary = self.path.with_suffix(self.path.suffix + ".tmp")
        temporary.write_text(self.dumps(), encoding="utf-8")
        temporary.replace(self.path)


def _split_examples(block: str) -> list[str]:
    return [line.strip() for line in _LIST_ITEM.split(block) if line.strip()]
