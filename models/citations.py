"""The papers behind the mixers, for model cards: each family folder registers its papers (`register_paper`) and
its mixer classes name them (`papers = ("mamba",)`, or a `papers_for(section_config)` classmethod when the paper
depends on the settings, as sparse attention's does)."""

from __future__ import annotations

from dataclasses import dataclass

from zoo.models.registry import MIXERS, Registry


@dataclass(frozen=True)
class Paper:
    """key: the BibTeX key; title; url (arXiv); bibtex: the whole entry."""

    key: str
    title: str
    url: str
    bibtex: str


PAPERS: Registry[Paper] = Registry("paper")


def register_paper(key: str, *, title: str, url: str, bibtex: str) -> None:
    """Register the paper `key` (its BibTeX key) with its title, link and BibTeX entry."""
    PAPERS.add(key, Paper(key, title, url, bibtex.strip()))


def papers_of(layers: list[str], sections: dict[str, object]) -> list[Paper]:
    """The papers of a layer pattern's mixers, in the order they first appear; `sections` holds each mixer's
    section config (`ModelConfig.mixers`)."""
    keys: list[str] = []
    for layer in dict.fromkeys(layers):
        entry = MIXERS.get(layer)
        chooser = getattr(entry.cls, "papers_for", None)
        section = sections.get(entry.section)
        keys += chooser(section) if chooser is not None and section is not None else getattr(entry.cls, "papers", ())
    return [PAPERS.get(key) for key in dict.fromkeys(keys)]
