"""Texts to padded token ids: a word vocabulary fitted on the training texts, or a tokenizers file."""

from __future__ import annotations

import json
import re
from array import array
from collections import Counter
from itertools import chain
from pathlib import Path
from typing import Any

import torch

from aiforge.core.data_pipeline import BasePreprocessor, Item
from aiforge.errors import ArgumentError, DataError, PluginError

WORD = re.compile(r"\w+|[^\w\s]")
PADDING, UNKNOWN = 0, 1  # ids of the word vocabulary; its words start at 2
_INSTALL = 'reading a tokenizer_file needs the tokenizers package: pip install "aiforge[text]"'
_WORD_OPTIONS = ("lowercase", "min_frequency", "max_vocabulary")
_STATE_KEYS = {"vocabulary", "tokenizer_json", "lowercase", "max_length"}
PROBE = "hello world 123 ?"  # ordinary text a usable tokenizer must encode (checked at fit and load)


class Preprocessor(BasePreprocessor):
    """Token ids for each text, padded with the padding id to the longest text of each batch.

    ``preprocess_args``:

    - ``max_length`` (256): texts longer than this many tokens are cut.
    - Word vocabulary (the default), fitted on the training texts only: ``lowercase`` (true),
      ``min_frequency`` (1: words seen fewer times are unknown), ``max_vocabulary`` (20000: the
      most frequent words, ties by word). Words are ``\\w+`` runs and single punctuation marks.
      Id 0 is padding, 1 an unknown word; a text with no token at all becomes ``[unknown]``.
    - ``tokenizer_file``: a Hugging Face ``tokenizers`` JSON file used as it is (not fitted;
      the word options above do not apply). Its JSON is saved in the run's state, so predictions
      use that copy even if the file changes later. Needs ``pip install "aiforge[text]"``.

    ``model_dims()`` gives the model ``vocab_size`` and ``padding_index``.
    """

    def __init__(self) -> None:
        self.vocabulary: list[str] = []
        self.tokenizer_json = ""
        self.lowercase = True
        self.max_length = 256
        self._index: dict[str, int] = {}
        self._tokenizer: Any = None
        self._encoder: Any = None  # encodes a batch as the tokenizer encodes each text, or None
        self._padding = PADDING
        self._empty = UNKNOWN  # the id of a text with no token
        self._size = 2

    # -- fitting -----------------------------------------------------------------------------
    def fit(
        self,
        texts: list[str],
        max_length: int = 256,
        lowercase: bool | None = None,
        min_frequency: int | None = None,
        max_vocabulary: int | None = None,
        tokenizer_file: str | None = None,
    ) -> None:
        """Build the word vocabulary from ``texts`` (the training rows), or read the tokenizer file."""
        self.max_length = _positive("max_length", max_length)
        if tokenizer_file is not None:
            given = [
                k
                for k, v in zip(_WORD_OPTIONS, (lowercase, min_frequency, max_vocabulary), strict=True)
                if v is not None
            ]
            if given:
                verb = "applies" if len(given) == 1 else "apply"
                raise ArgumentError(
                    f"text: {', '.join(given)} {verb} only to the word vocabulary; with tokenizer_file "
                    "the tokenizer's own settings apply: remove them"
                )
            file, tokenizer = _read_tokenizer_file(tokenizer_file)
            problem = _probe_problem(tokenizer)
            if problem:
                raise DataError(
                    f"tokenizer_file {file} cannot tokenize a text such as {PROBE!r}: {problem}; "
                    "fix the tokenizer (e.g. add its unknown token to its vocabulary)"
                )
            self._set_tokenizer(tokenizer, [])
            return
        if lowercase is not None and not isinstance(lowercase, bool):
            raise ArgumentError(f"text: lowercase must be true or false, not {lowercase!r}")
        self.lowercase = True if lowercase is None else lowercase
        least = _positive("min_frequency", 1 if min_frequency is None else min_frequency)
        most = _positive("max_vocabulary", 20000 if max_vocabulary is None else max_vocabulary)
        counts = Counter(token for text in _texts(texts) for token in self._words(text))
        ranked = sorted((item for item in counts.items() if item[1] >= least), key=lambda kv: (-kv[1], kv[0]))
        if not ranked:
            raise _empty_vocabulary(counts, least)
        self._set_words([word for word, _ in ranked[:most]])

    def _words(self, text: str) -> list[str]:
        return WORD.findall(text.lower() if self.lowercase else text)

    def _set_words(self, vocabulary: list[str]) -> None:
        self.vocabulary, self.tokenizer_json, self._tokenizer, self._encoder = vocabulary, "", None, None
        self._index = {word: position + 2 for position, word in enumerate(vocabulary)}
        self._padding, self._empty, self._size = PADDING, UNKNOWN, len(vocabulary) + 2

    def _set_tokenizer(self, tokenizer: Any, vocabulary: list[str]) -> None:
        self.vocabulary, self.tokenizer_json, self._tokenizer, self._index = (
            vocabulary,
            tokenizer.to_str(),
            tokenizer,
            {},
        )
        size = tokenizer.get_vocab_size(with_added_tokens=True)
        padding = _tokenizer_padding(tokenizer)
        # Without a padding token of its own, padding gets one more id than the tokenizer knows.
        self._padding, self._size = (padding, size) if padding is not None else (size, size + 1)
        # Found once here, not per text: finding it parses the whole tokenizer JSON.
        unknown = _tokenizer_unknown(tokenizer)
        self._empty = unknown if unknown is not None else self._padding
        self._encoder = _batch_encoder(tokenizer)

    def model_dims(self) -> dict[str, int]:
        """What the model's embedding needs: how many ids, and which one is padding."""
        return {"vocab_size": self._size, "padding_index": self._padding}

    # -- transforming ------------------------------------------------------------------------
    def token_ids(self, text: str) -> list[int]:
        """One text's ids, cut at ``max_length``; never empty (a text with no token is [unknown])."""
        return self._rows([text])[0]

    def _rows(self, texts: list[str]) -> list[list[int]]:
        """Each text's ids, cut at ``max_length``, never empty. Runs for every batch of every
        epoch, so the tokenizer encodes the whole batch in one call and the word path does one
        regex ``findall`` and one dict lookup per word."""
        most, empty = self.max_length, [self._empty]
        if self._tokenizer is not None:
            if self._encoder is not None:
                encodings = self._encoder.encode_batch(texts)
            else:
                encodings = [self._tokenizer.encode(text) for text in texts]
            return [encoding.ids[:most] or empty for encoding in encodings]
        find, get = WORD.findall, self._index.get
        if self.lowercase:
            texts = [text.lower() for text in texts]
        return [[get(word, UNKNOWN) for word in find(text)[:most]] or empty for text in texts]

    def transform_batch(self, batch: Item) -> Item:
        """``features`` (a list of texts) become a LongTensor [B, L], L the longest text of the batch."""
        rows = self._rows(_texts(batch["features"]))
        if not rows:
            return {**batch, "features": torch.full((0, 1), self._padding, dtype=torch.long)}
        width, pad = max(map(len, rows)), self._padding
        # One flat int64 buffer, one tensor copy: about 3x faster than torch.tensor(list of lists).
        flat = array("q", chain.from_iterable(row + [pad] * (width - len(row)) for row in rows))
        ids = torch.frombuffer(flat, dtype=torch.long).view(len(rows), width).clone()
        return {**batch, "features": ids}

    def transform(self, data_item: Item) -> Item:
        """One item: its text as a LongTensor [L] of ids, unpadded."""
        ids = self.transform_batch({"features": [data_item["features"]]})["features"][0]
        return {**data_item, "features": ids}

    # -- state -------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "vocabulary": list(self.vocabulary),
            "tokenizer_json": self.tokenizer_json,
            "lowercase": self.lowercase,
            "max_length": self.max_length,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """A saved state is data: every value is checked before any is used (ValueError)."""
        if set(state) != _STATE_KEYS:
            raise ValueError(f"expected the keys {sorted(_STATE_KEYS)}, found {sorted(map(str, state))}")
        vocabulary, tokenizer_json = state["vocabulary"], state["tokenizer_json"]
        if not isinstance(vocabulary, list) or not all(isinstance(w, str) and w for w in vocabulary):
            raise ValueError("vocabulary must be a list of non-empty words")
        if len(set(vocabulary)) != len(vocabulary):
            raise ValueError("vocabulary lists a word twice")
        if not isinstance(tokenizer_json, str):
            raise ValueError("tokenizer_json must be a string")
        if tokenizer_json and vocabulary:
            raise ValueError("a state holds either a word vocabulary or a tokenizer, not both")
        if not isinstance(state["lowercase"], bool):
            raise ValueError("lowercase must be true or false")
        max_length = state["max_length"]
        if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1:
            raise ValueError("max_length must be a positive whole number")
        self.lowercase, self.max_length = state["lowercase"], max_length
        if tokenizer_json:
            tokenizer = _tokenizer_from_json(tokenizer_json)
            problem = _probe_problem(tokenizer)
            if problem:
                raise ValueError(f"tokenizer_json cannot tokenize a text such as {PROBE!r}: {problem}")
            self._set_tokenizer(tokenizer, [])
        else:
            self._set_words(vocabulary)


def _positive(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ArgumentError(f"text: {name} must be a positive whole number, not {value!r}")
    return value


def _empty_vocabulary(counts: Counter[str], least: int) -> DataError:
    """Training on an empty vocabulary learns nothing (every word unknown): say why it is empty."""
    if not counts:
        return DataError(
            "text: the training texts hold no word or punctuation mark to build a vocabulary from"
        )
    most = max(counts.values())
    return DataError(
        f"text: preprocess_args.min_frequency={least} leaves no word of the {len(counts):,} distinct "
        f"words in the training texts (the most frequent appears {most:,} time{'s' if most > 1 else ''});"
        f" lower it to {most} or less"
    )


def _texts(features: Any) -> list[str]:
    """The texts of a batch (a list of strings); anything else is a plugin wiring mistake."""
    if isinstance(features, str) or not all(isinstance(text, str) for text in features):
        raise TypeError(f"the text preprocessor expects a list of texts, got {type(features).__name__}")
    return list(features)


def _tokenizers_module() -> Any:
    try:
        import tokenizers
    except ImportError:
        raise PluginError(_INSTALL) from None
    return tokenizers


def _read_tokenizer_file(path: Any) -> tuple[Path, Any]:
    """The file's absolute path (for messages) and its tokenizer; a relative path is from the cwd."""
    if not isinstance(path, str) or not path.strip():
        raise ArgumentError(f"text: tokenizer_file must be the path of a tokenizer JSON file, not {path!r}")
    given = Path(path).expanduser()
    file = given.resolve()
    looked = "" if given.is_absolute() else f" (looked for {file}, relative to the working directory)"
    if file.is_dir():
        raise DataError(f"tokenizer_file {given}{looked} is a folder, not a tokenizer JSON file")
    if not file.is_file():
        raise DataError(f"tokenizer_file {given} not found{looked}")
    tokenizers = _tokenizers_module()
    try:
        return file, tokenizers.Tokenizer.from_file(str(file))
    except Exception as err:  # tokenizers raises a bare Exception for a malformed file
        raise DataError(f"tokenizer_file {file} is not a tokenizers JSON file: {err}") from None


def _probe_problem(tokenizer: Any) -> str:
    """Why the tokenizer fails on ordinary text (e.g. its unknown token is missing), or ''."""
    try:
        tokenizer.encode(PROBE)
    except Exception as err:  # tokenizers raises a bare Exception from its Rust model
        return str(err) or type(err).__name__
    return ""


def _tokenizer_from_json(text: str) -> Any:
    tokenizers = _tokenizers_module()
    try:
        return tokenizers.Tokenizer.from_str(text)
    except Exception as err:  # tokenizers raises a bare Exception for malformed JSON
        raise ValueError(f"tokenizer_json is not a tokenizers tokenizer: {err}") from None


def _tokenizer_padding(tokenizer: Any) -> int | None:
    """The tokenizer's padding id: from its padding settings, else a usual padding token."""
    padding = tokenizer.padding
    token = padding.get("pad_token") if padding is not None else None
    if token and padding.get("pad_id") is not None and tokenizer.token_to_id(token) is not None:
        return int(padding["pad_id"])
    for token in ("[PAD]", "<pad>", "<PAD>"):
        found = tokenizer.token_to_id(token)
        if found is not None:
            return int(found)
    return None


def _batch_encoder(tokenizer: Any) -> Any:
    """A tokenizer whose ``encode_batch`` gives each text exactly what ``tokenizer.encode`` gives
    it, or None (then texts are encoded one by one). Only padding to the longest text of the
    batch differs between the two: a copy without padding does that, unless the padding rounds
    up to a multiple (then ``encode`` pads each text on its own)."""
    padding = tokenizer.padding
    if padding is None or padding.get("length") is not None:
        return tokenizer  # no padding, or a fixed length: the same for a batch as for one text
    if padding.get("pad_to_multiple_of"):
        return None
    copy = _tokenizer_from_json(tokenizer.to_str())
    copy.no_padding()
    return copy


def _tokenizer_unknown(tokenizer: Any) -> int | None:
    model = json.loads(tokenizer.to_str()).get("model", {})
    token = model.get("unk_token")
    return tokenizer.token_to_id(token) if isinstance(token, str) else None
