"""The text plugin's Preprocessor: a word vocabulary from the training rows, or a tokenizers file."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from aiforge.errors import ArgumentError, DataError, PluginError
from aiforge.plugins.text.preprocessor import PADDING, UNKNOWN, Preprocessor

TRAIN = ["The film was great!", "the plot was bad", "Great acting, great film."]


def fitted(texts=TRAIN, **args) -> Preprocessor:
    preprocessor = Preprocessor()
    preprocessor.fit(list(texts), **args)
    return preprocessor


def ids(preprocessor: Preprocessor, *texts: str) -> torch.Tensor:
    return preprocessor.transform_batch({"features": list(texts)})["features"]


def test_vocabulary_is_sorted_by_frequency_then_word_and_lowercased():
    preprocessor = fitted()
    assert preprocessor.vocabulary == [
        "great", "film", "the", "was", "!", ",", ".", "acting", "bad", "plot"
    ]  # fmt: skip
    assert preprocessor.model_dims() == {"vocab_size": 12, "padding_index": 0}


def test_a_word_seen_only_outside_the_training_rows_is_unknown():
    preprocessor = fitted()
    assert ids(preprocessor, "great sequel").tolist() == [[2, UNKNOWN]]


def test_min_frequency_max_vocabulary_and_case():
    assert fitted(min_frequency=2).vocabulary == ["great", "film", "the", "was"]
    assert fitted(max_vocabulary=2).vocabulary == ["great", "film"]
    assert "The" in fitted(lowercase=False).vocabulary


def test_each_batch_is_padded_to_its_longest_text_and_cut_at_max_length():
    preprocessor = fitted(max_length=3)
    batch = {"features": ["great", "the film was great"], "labels": torch.tensor([1, 0])}
    out = preprocessor.transform_batch(batch)
    assert out["features"].dtype == torch.long
    assert out["features"].tolist() == [[2, PADDING, PADDING], [4, 3, 5]]
    assert torch.equal(out["labels"], batch["labels"])
    assert batch["features"] == ["great", "the film was great"]  # the input is left as it was
    assert ids(preprocessor, "great", "film").shape == (2, 1)  # per batch, not a fixed width


def test_a_text_without_tokens_becomes_unknown():
    assert ids(fitted(), "", "   ").tolist() == [[UNKNOWN], [UNKNOWN]]


def test_transform_of_one_item():
    item = fitted().transform({"features": "great film", "labels": torch.tensor(1)})
    assert item["features"].tolist() == [2, 3]


def test_the_state_round_trips_through_save_and_load(tmp_path):
    preprocessor = fitted(min_frequency=1, max_length=8)
    preprocessor.save(tmp_path / "p.safetensors")
    loaded = Preprocessor()
    loaded.load(tmp_path / "p.safetensors")
    assert loaded.state_dict() == preprocessor.state_dict()
    assert loaded.model_dims() == preprocessor.model_dims()
    texts = ("Great plot, bad film", "unseen words here")
    assert torch.equal(ids(loaded, *texts), ids(preprocessor, *texts))
    json.dumps(preprocessor.state_dict())  # the whole state is JSON (preprocessor.json)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"vocabulary": "great film"}, "vocabulary must be a list"),
        ({"vocabulary": ["a", "a"]}, "lists a word twice"),
        ({"vocabulary": ["a", 3]}, "vocabulary must be a list of non-empty words"),
        ({"max_length": 0}, "max_length must be a positive"),
        ({"lowercase": "yes"}, "lowercase must be true or false"),
        ({"tokenizer_json": 5}, "tokenizer_json must be a string"),
        ({"tokenizer_json": "{not json"}, "a state holds either"),
        ({"tokenizer_json": "{not json", "vocabulary": []}, "tokenizer_json is not a tokenizers tokenizer"),
        ({"extra": 1}, "expected the keys"),
    ],
)
def test_load_state_dict_refuses_wrong_values(change, message):
    state = {**fitted().state_dict(), **change}
    with pytest.raises(ValueError, match=message):
        Preprocessor().load_state_dict(state)


def test_a_damaged_saved_file_is_a_data_error(tmp_path):
    preprocessor = fitted()
    preprocessor.vocabulary = ["a", "a"]
    preprocessor.save(tmp_path / "p.safetensors")
    with pytest.raises(DataError, match=r"p.safetensors is not a usable state.*twice"):
        Preprocessor().load(tmp_path / "p.safetensors")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"max_length": 0}, "max_length must be a positive whole number"),
        ({"min_frequency": 1.5}, "min_frequency must be a positive"),
        ({"lowercase": "no"}, "lowercase must be true or false"),
    ],
)
def test_wrong_preprocess_args_are_argument_errors(args, message):
    with pytest.raises(ArgumentError, match=message):
        fitted(**args)


# -- a Hugging Face tokenizers file ----------------------------------------------------------


def tokenizer_file(tmp_path: Path, pad: bool = True) -> str:
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace

    words = ["[UNK]", "good", "bad", "film"] + (["[PAD]"] if pad else [])
    tokenizer = Tokenizer(WordLevel({word: i for i, word in enumerate(words)}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = Whitespace()
    path = tmp_path / "tokenizer.json"
    tokenizer.save(str(path))
    return str(path)


def test_a_tokenizers_file_is_used_as_it_is(tmp_path):
    preprocessor = fitted(tokenizer_file=tokenizer_file(tmp_path))
    assert preprocessor.model_dims() == {"vocab_size": 5, "padding_index": 4}
    assert preprocessor.vocabulary == []  # not fitted on the texts
    assert ids(preprocessor, "good film", "bad sequel film").tolist() == [[1, 3, 4], [2, 0, 3]]


def test_the_tokenizer_is_saved_in_the_state_so_the_file_is_not_needed_again(tmp_path):
    path = tokenizer_file(tmp_path)
    preprocessor = fitted(tokenizer_file=path)
    preprocessor.save(tmp_path / "p.safetensors")
    Path(path).unlink()
    loaded = Preprocessor()
    loaded.load(tmp_path / "p.safetensors")
    assert loaded.model_dims() == preprocessor.model_dims()
    assert torch.equal(ids(loaded, "good film", "bad"), ids(preprocessor, "good film", "bad"))


def test_a_tokenizer_without_a_padding_token_gets_an_extra_id(tmp_path):
    preprocessor = fitted(tokenizer_file=tokenizer_file(tmp_path, pad=False))
    assert preprocessor.model_dims() == {"vocab_size": 5, "padding_index": 4}
    assert ids(preprocessor, "good film", "bad").tolist() == [[1, 3], [2, 4]]


def test_word_options_do_not_apply_to_a_tokenizers_file(tmp_path):
    with pytest.raises(ArgumentError, match="min_frequency applies only to the word vocabulary"):
        fitted(tokenizer_file=tokenizer_file(tmp_path), min_frequency=2)


def test_a_bad_tokenizers_file_is_a_data_error_naming_it(tmp_path):
    bad = tmp_path / "broken.json"
    bad.write_text("{}", encoding="utf-8")
    with pytest.raises(DataError, match=r"broken.json is not a tokenizers JSON file"):
        fitted(tokenizer_file=str(bad))
    with pytest.raises(DataError, match=r"missing.json not found"):
        fitted(tokenizer_file=str(tmp_path / "missing.json"))


def test_without_the_tokenizers_package_the_error_says_what_to_install(tmp_path, monkeypatch):
    path = tokenizer_file(tmp_path)
    monkeypatch.setitem(sys.modules, "tokenizers", None)  # import tokenizers raises ImportError
    with pytest.raises(PluginError, match=r'pip install "aiforge\[text\]"'):
        fitted(tokenizer_file=path)


# -- refusing what would only fail (or learn nothing) later ----------------------------------


def broken_tokenizer_file(tmp_path: Path) -> str:
    """A WordLevel tokenizer whose unknown token is not in its (empty) vocabulary."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel

    path = tmp_path / "no_unk.json"
    Tokenizer(WordLevel({}, unk_token="[UNK]")).save(str(path))
    return str(path)


def test_a_tokenizer_that_cannot_encode_text_is_a_data_error_at_fit(tmp_path):
    with pytest.raises(DataError, match=r"no_unk.json cannot tokenize a text.*Missing \[UNK\] token"):
        fitted(tokenizer_file=broken_tokenizer_file(tmp_path))


def test_a_saved_tokenizer_that_cannot_encode_text_is_refused_at_load(tmp_path):
    tokenizer_json = Path(broken_tokenizer_file(tmp_path)).read_text(encoding="utf-8")
    state = {**fitted().state_dict(), "vocabulary": [], "tokenizer_json": tokenizer_json}
    with pytest.raises(ValueError, match=r"tokenizer_json cannot tokenize a text.*Missing \[UNK\] token"):
        Preprocessor().load_state_dict(state)


def test_a_min_frequency_that_leaves_no_word_is_a_data_error():
    with pytest.raises(
        DataError,
        match=r"preprocess_args.min_frequency=1000 leaves no word of the 10 distinct words in the "
        r"training texts \(the most frequent appears 3 times\); lower it to 3 or less",
    ):
        fitted(min_frequency=1000)
    with pytest.raises(DataError, match=r"the 2 distinct words .* appears 1 time\); lower it to 1"):
        fitted(["good film"], min_frequency=2)


def test_training_texts_without_any_word_are_a_data_error():
    with pytest.raises(DataError, match="the training texts hold no word"):
        fitted(["   ", ""])


def test_one_word_option_with_a_tokenizers_file_is_named_in_the_singular(tmp_path):
    with pytest.raises(ArgumentError, match=r"text: min_frequency applies only to the word vocabulary"):
        fitted(tokenizer_file=tokenizer_file(tmp_path), min_frequency=2)
    with pytest.raises(ArgumentError, match=r"text: lowercase, min_frequency apply only to the word"):
        fitted(tokenizer_file=tokenizer_file(tmp_path), lowercase=True, min_frequency=2)


def test_a_folder_as_tokenizer_file_is_named_a_folder(tmp_path):
    with pytest.raises(DataError, match=r"is a folder, not a tokenizer JSON file"):
        fitted(tokenizer_file=str(tmp_path))


def test_an_absolute_tokenizer_file_is_read_from_any_working_directory(tmp_path, monkeypatch):
    path = Path(tokenizer_file(tmp_path)).resolve()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert fitted(tokenizer_file=str(path)).model_dims() == {"vocab_size": 5, "padding_index": 4}


def test_a_missing_relative_tokenizer_file_names_the_path_looked_for(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DataError) as caught:
        fitted(tokenizer_file="tok/missing.json")
    message = str(caught.value)
    assert str(tmp_path.resolve() / "tok" / "missing.json") in message
    assert "relative to the working directory" in message


# -- the batched fast path gives exactly the ids of the one-text-at-a-time path ---------------


def one_by_one(preprocessor: Preprocessor, texts: list[str]) -> list[list[int]]:
    """The ids as transform_batch made them before it was batched: each text on its own."""
    import re

    rows = []
    for text in texts:
        if preprocessor._tokenizer is not None:
            row = preprocessor._tokenizer.encode(text).ids
            if not row:
                model = json.loads(preprocessor._tokenizer.to_str()).get("model", {})
                token = model.get("unk_token")
                unknown = preprocessor._tokenizer.token_to_id(token) if isinstance(token, str) else None
                row = [unknown if unknown is not None else preprocessor.model_dims()["padding_index"]]
        else:
            words = re.findall(r"\w+|[^\w\s]", text.lower() if preprocessor.lowercase else text)
            row = [preprocessor._index.get(word, UNKNOWN) for word in words] or [UNKNOWN]
        rows.append(row[: preprocessor.max_length])
    width = max((len(row) for row in rows), default=1)
    pad = preprocessor.model_dims()["padding_index"]
    return [row + [pad] * (width - len(row)) for row in rows]


MIXED = [
    "The film was GREAT!!",
    "",
    "   \t\n",
    "unseen sequel, bad plot",
    "good film " * 20,  # longer than max_length
    "Ünïcödé café naïve — great",
    "good",
    "bad film... good?",
]


def tokenizer_with(tmp_path: Path, name: str, change) -> str:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(tokenizer_file(tmp_path))
    change(tokenizer)
    path = tmp_path / name
    tokenizer.save(str(path))
    return str(path)


@pytest.mark.parametrize("args", [{}, {"lowercase": False}, {"max_length": 5}, {"min_frequency": 2}])
def test_word_ids_are_those_of_one_text_at_a_time(args):
    preprocessor = fitted([*TRAIN, "good film bad film"], **args)
    out = ids(preprocessor, *MIXED)
    assert out.dtype == torch.long
    assert out.tolist() == one_by_one(preprocessor, MIXED)
    for text in MIXED:  # a batch of one, and transform of one item
        assert ids(preprocessor, text).tolist() == one_by_one(preprocessor, [text])
        assert (
            preprocessor.transform({"features": text})["features"].tolist()
            == one_by_one(preprocessor, [text])[0]
        )
    assert ids(preprocessor).shape == (0, 1)  # an empty batch, as before


@pytest.mark.parametrize(
    "change",
    [
        None,
        lambda t: t.enable_padding(pad_id=4, pad_token="[PAD]"),  # encode_batch would pad to the longest
        lambda t: t.enable_padding(pad_id=4, pad_token="[PAD]", pad_to_multiple_of=4),
        lambda t: t.enable_padding(pad_id=4, pad_token="[PAD]", length=6, direction="left"),
        lambda t: t.enable_truncation(max_length=3),
    ],
    ids=["plain", "padding", "padding_multiple", "fixed_length_left", "truncation"],
)
@pytest.mark.parametrize("max_length", [256, 4])
def test_tokenizer_ids_are_those_of_one_text_at_a_time(tmp_path, change, max_length):
    path = tokenizer_file(tmp_path) if change is None else tokenizer_with(tmp_path, "changed.json", change)
    preprocessor = fitted(tokenizer_file=path, max_length=max_length)
    assert ids(preprocessor, *MIXED).tolist() == one_by_one(preprocessor, MIXED)
    loaded = Preprocessor()
    loaded.load_state_dict(preprocessor.state_dict())
    assert ids(loaded, *MIXED).tolist() == one_by_one(preprocessor, MIXED)
    for text in MIXED:
        assert ids(loaded, text).tolist() == one_by_one(preprocessor, [text])


def test_a_tokenizer_without_an_unknown_token_pads_a_text_without_tokens(tmp_path):
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace

    tokenizer = Tokenizer(WordLevel({"good": 0, "film": 1, "hello": 2, "world": 3, "123": 4, "?": 5}))
    tokenizer.pre_tokenizer = Whitespace()
    tokenizer.save(str(tmp_path / "no_unk_token.json"))
    preprocessor = fitted(tokenizer_file=str(tmp_path / "no_unk_token.json"))
    assert (
        ids(preprocessor, "good film", "").tolist()
        == [[0, 1], [6, 6]]
        == one_by_one(preprocessor, ["good film", ""])
    )


def test_the_unknown_id_is_found_once_not_for_every_text(tmp_path, monkeypatch):
    from aiforge.plugins.text import preprocessor as module

    preprocessor = fitted(tokenizer_file=tokenizer_file(tmp_path))
    loaded = Preprocessor()
    loaded.load_state_dict(preprocessor.state_dict())

    def again(_tokenizer):
        raise AssertionError("the tokenizer's JSON is parsed again for a text without tokens")

    monkeypatch.setattr(module, "_tokenizer_unknown", again)
    assert ids(preprocessor, "good", "").tolist() == [[1], [0]]
    assert ids(loaded, "", "  ").tolist() == [[0], [0]]
