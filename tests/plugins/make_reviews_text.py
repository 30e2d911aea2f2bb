"""Writes src/aiforge/examples/reviews_text.csv: short product and film reviews with a sentiment.

Run once (``python tests/plugins/make_reviews_text.py``) to make the bundled file; a test checks
that the shipped file is exactly what this script writes. Built from templates with a seeded
random generator: no download, the same bytes every time. About one sentence in five is negated
("not great" is negative, "never boring" is positive), so a bag of words is not perfect.
"""

from __future__ import annotations

import csv
import io
import random
from pathlib import Path

TARGET = Path(__file__).resolve().parents[2] / "src" / "aiforge" / "examples" / "reviews_text.csv"
ROWS = 2000
SEED = 19

THINGS = {
    "product": [
        "headphones",
        "blender",
        "phone case",
        "backpack",
        "coffee maker",
        "desk lamp",
        "keyboard",
        "water bottle",
        "vacuum",
        "charger",
        "kettle",
        "jacket",
        "tent",
        "speaker",
        "mattress",
        "toaster",
        "monitor",
        "running shoes",
        "frying pan",
        "umbrella",
    ],
    "film": [
        "movie",
        "film",
        "sequel",
        "documentary",
        "thriller",
        "comedy",
        "animated film",
        "drama",
        "horror movie",
        "musical",
        "western",
        "romance",
        "series finale",
        "remake",
        "biopic",
    ],
}
ASPECTS = {
    "product": [
        "the build quality",
        "the battery",
        "the price",
        "the design",
        "the sound",
        "the delivery",
        "the instructions",
        "the material",
        "the customer service",
        "the packaging",
        "the size",
    ],
    "film": [
        "the acting",
        "the plot",
        "the ending",
        "the soundtrack",
        "the dialogue",
        "the pacing",
        "the script",
        "the cast",
        "the camera work",
        "the story",
        "the special effects",
    ],
}
GOOD = [
    "great",
    "excellent",
    "wonderful",
    "fantastic",
    "good",
    "solid",
    "lovely",
    "brilliant",
    "impressive",
    "superb",
    "delightful",
    "reliable",
    "sturdy",
    "charming",
    "outstanding",
    "fun",
]
BAD = [
    "terrible",
    "awful",
    "poor",
    "bad",
    "disappointing",
    "boring",
    "flimsy",
    "cheap",
    "dull",
    "broken",
    "useless",
    "mediocre",
    "frustrating",
    "weak",
    "annoying",
    "sloppy",
]
INTENSIFIERS = ["", "", "", "really ", "very ", "truly ", "quite ", "absolutely ", "pretty "]
GOOD_VERBS = ["love", "really like", "enjoyed", "recommend", "adore"]
BAD_VERBS = ["hate", "regret buying", "disliked", "returned", "cannot stand"]
GOOD_ENDINGS = [
    "Would buy again.",
    "Five stars.",
    "Worth every penny.",
    "Highly recommended!",
    "Happy with it.",
    "A pleasant surprise.",
    "I will watch it again.",
    "My friends loved it too.",
]
BAD_ENDINGS = [
    "Would not buy again.",
    "One star.",
    "A waste of money.",
    "Avoid it.",
    "Very let down.",
    "Never again.",
    "I want my money back.",
    "I fell asleep halfway.",
]


def _sentence(rng: random.Random, kind: str, positive: bool) -> str:
    thing, aspect = rng.choice(THINGS[kind]), rng.choice(ASPECTS[kind])
    if rng.random() < 0.2:  # negated: the adjective says the opposite of the sentiment
        adjective = rng.choice(BAD if positive else GOOD)
        negation = rng.choice(["not", "never", "not at all", "hardly"])
        template = rng.choice(["{a} was {n} {w}.", "The {t} is {n} {w}.", "Honestly {a} is {n} {w}."])
        return _capitalised(template.format(a=aspect, t=thing, n=negation, w=adjective))
    adjective = rng.choice(GOOD if positive else BAD)
    verb = rng.choice(GOOD_VERBS if positive else BAD_VERBS)
    template = rng.choice(
        [
            "The {t} is {i}{w}.",
            "{a} is {i}{w}.",
            "I {v} this {t}.",
            "What a {w} {t}.",
            "{a} was {i}{w} and {a2} was {i2}{w2}.",
        ]
    )
    second = rng.choice(GOOD if positive else BAD)
    sentence = template.format(
        t=thing,
        a=aspect,
        a2=rng.choice(ASPECTS[kind]),
        i=rng.choice(INTENSIFIERS),
        i2=rng.choice(INTENSIFIERS),
        w=adjective,
        w2=second,
        v=verb,
    )
    return _capitalised(sentence)


def _capitalised(sentence: str) -> str:
    return sentence[:1].upper() + sentence[1:]


def review(rng: random.Random) -> tuple[str, str]:
    kind = rng.choice(["product", "film"])
    positive = rng.random() < 0.5
    sentences = [_sentence(rng, kind, positive) for _ in range(rng.choice([1, 1, 2, 2, 3]))]
    if rng.random() < 0.3:  # a mixed review: one sentence of the other side
        sentences.insert(rng.randrange(len(sentences) + 1), _sentence(rng, kind, not positive))
    if rng.random() < 0.4:
        sentences.append(rng.choice(GOOD_ENDINGS if positive else BAD_ENDINGS))
    return " ".join(sentences), "positive" if positive else "negative"


def table(rows: int = ROWS, seed: int = SEED) -> str:
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["review", "sentiment"])
    for _ in range(rows):
        writer.writerow(review(rng))
    return out.getvalue()


if __name__ == "__main__":
    TARGET.write_text(table(), encoding="utf-8")
    print(f"wrote {TARGET} ({TARGET.stat().st_size} bytes)")
