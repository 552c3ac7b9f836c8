"""The nucleotide character vocabulary (HyenaDNA's: one token a base) and reverse complements.

Ids: 0 `<pad>`, 1 `<bos>`, 2 `<eos>`, 3 `<mask>`, then the bases A C G T N (4-8). Reading maps lowercase (soft-masked
repeats) to uppercase, U to T, and every IUPAC ambiguity code (R Y S W K M B D H V) to N; any other character is
refused by `encode`, which names its position. The reverse complement swaps A-T and C-G and reverses the order; N
and the specials stay themselves.
"""

from __future__ import annotations

import torch

SPECIALS = ("<pad>", "<bos>", "<eos>", "<mask>")
BASES = "ACGTN"
VOCAB = SPECIALS + tuple(BASES)
PAD, BOS, EOS, MASK = range(len(SPECIALS))
A, C, G, T, N = (VOCAB.index(base) for base in BASES)
INVALID = 255
IUPAC_AMBIGUOUS = "RYSWKMBDHV"


def _lookup() -> torch.Tensor:
    """byte -> id (uint8 `[256]`), INVALID for bytes that are no base."""
    table = torch.full((256,), INVALID, dtype=torch.uint8)
    for letters, token in (("Aa", A), ("Cc", C), ("Gg", G), ("TtUu", T),
                           ("Nn" + IUPAC_AMBIGUOUS + IUPAC_AMBIGUOUS.lower(), N)):
        for letter in letters:
            table[ord(letter)] = token
    return table


BYTE_TO_ID = _lookup()
COMPLEMENT = torch.arange(len(VOCAB), dtype=torch.uint8)
COMPLEMENT[[A, C, G, T]] = torch.tensor([T, G, C, A], dtype=torch.uint8)


class InvalidBaseError(ValueError):
    """A character that is no nucleotide; `position` is its index in the text encoded."""

    def __init__(self, character: str, position: int):
        self.character, self.position = character, position
        super().__init__(f"{character!r} at position {position} is not a nucleotide (A C G T U N or an IUPAC code)")


def encode(text: bytes | bytearray) -> torch.Tensor:
    """Bases (ASCII bytes) -> ids uint8 `[len(text)]`; InvalidBaseError at the first byte that is no base."""
    ids = BYTE_TO_ID[torch.frombuffer(bytearray(text), dtype=torch.uint8).long()] if text else torch.empty(
        0, dtype=torch.uint8)
    bad = torch.nonzero(ids == INVALID)
    if len(bad):
        position = int(bad[0])
        raise InvalidBaseError(chr(text[position]), position)
    return ids


def decode(ids: torch.Tensor) -> str:
    """Ids `[T]` -> the bases and specials as text (specials in angle brackets)."""
    return "".join(VOCAB[i] for i in ids.tolist())


def reverse_complement(ids: torch.Tensor) -> torch.Tensor:
    """Ids `[..., T]` -> the reverse complement `[..., T]` (A<->T, C<->G, reversed along the last axis)."""
    return COMPLEMENT.to(ids.device)[ids.long()].to(ids.dtype).flip(-1)
