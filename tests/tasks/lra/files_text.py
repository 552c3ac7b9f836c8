"""Small data sets in the official layouts of LRA Text (IMDB), LRA Retrieval (AAN) and the Austen stand-ins (a
folder of `<Title>.txt` books), written from a seed for the loader tests. Each writer returns the folder a task's
`data_dir` should name."""

from __future__ import annotations

import random
from pathlib import Path

POSITIVE = ("wonderful", "moving", "superb", "delightful", "brilliant")
NEGATIVE = ("dreadful", "tedious", "clumsy", "boring", "awful")
COMMON = ("the", "film", "plot", "actor", "scene", "and", "a", "was", "café", "naïve", "<br /><br />", "it")
ADJECTIVES = ("Quiet", "Northern", "Silver", "Hidden", "Last", "Winter", "Golden", "Distant")
NOUNS = ("Harbour", "Abbey", "Orchard", "Letters", "Estate", "Garden", "Bridge", "Meadow")


def _words(rng: random.Random, vocabulary: tuple[str, ...], count: int) -> str:
    return " ".join(rng.choice(vocabulary) for _ in range(count))


def write_imdb(folder: Path, seed: int, per_class: int = 8) -> Path:
    """`folder/aclImdb/{train,test}/{neg,pos}/<id>_<rating>.txt`: `per_class` reviews per split and class, UTF-8
    with some non-ASCII letters; the first review of each folder is a few words, the others 10-80 words (so a cut
    at 40 bytes shortens some and not others). Returns `folder` (the data_dir holding `aclImdb`)."""
    rng = random.Random(seed)
    for split in ("train", "test"):
        for label, sentiment, ratings in (("neg", NEGATIVE, (1, 2, 3, 4)), ("pos", POSITIVE, (7, 8, 9, 10))):
            target = folder / "aclImdb" / split / label
            target.mkdir(parents=True, exist_ok=True)
            for index in range(per_class):
                count = rng.randrange(1, 4) if index == 0 else rng.randrange(10, 80)
                review = _words(rng, COMMON + sentiment, count) + f" {rng.choice(sentiment)}."
                (target / f"{index}_{rng.choice(ratings)}.txt").write_text(review, encoding="utf-8")
    return folder


def write_aan(folder: Path, seed: int, rows: tuple[int, int, int] = (32, 8, 8)) -> Path:
    """`folder/new_aan_pairs.{train,eval,test}.tsv` with `rows` lines each: `label id1 id2 text1 text2`, labels 0/1
    (both in every file), AAN-style ids, texts of 2-59 words with some non-ASCII letters; the first row's first text
    is 2 words (at most 25 bytes), its second 59 (over 100 bytes). Returns `folder`."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for split, count in zip(("train", "eval", "test"), rows):
        lines = []
        for row in range(count):
            label = row % 2 if row < 2 else rng.randrange(2)
            ids = (f"{rng.choice('PJDCW')}{rng.randrange(0, 99):02d}-{rng.randrange(1000, 9999)}" for _ in range(2))
            sizes = (2, 59) if row == 0 else (rng.randrange(2, 60), rng.randrange(2, 60))
            texts = (_words(rng, COMMON + POSITIVE + NEGATIVE, size) for size in sizes)
            lines.append("\t".join((str(label), *ids, *texts)))
        (folder / f"new_aan_pairs.{split}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def write_books(folder: Path, seed: int, num_books: int = 3, chars: int = 6000) -> Path:
    """`num_books` books `folder/<Title>.txt` (two-word titles), each of `chars` to `1.5 * chars` characters in lines
    of words drawn from a vocabulary of its own (so a model could tell the books apart), with some non-ASCII letters.
    Returns `folder`."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    titles = rng.sample([f"{adjective} {noun}" for adjective in ADJECTIVES for noun in NOUNS], num_books)
    for title in titles:
        vocabulary = tuple("".join(rng.choice("abcdefghijklmnopqrstuvwxyzéü") for _ in range(rng.randrange(2, 9)))
                           for _ in range(40))
        size, lines = rng.randrange(chars, chars * 3 // 2), [title.upper(), ""]
        while sum(len(line) + 1 for line in lines) < size:
            lines.append(_words(rng, vocabulary, rng.randrange(3, 14)))
        (folder / f"{title}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder
