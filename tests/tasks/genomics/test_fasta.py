"""Nucleotide tokens and streaming FASTA: IUPAC codes, lowercase and U read as bases, reverse complement is an
involution that pairs A-T and C-G, multi-record plain and gzip files read the same, and malformed files (garbage
characters, truncated gzip, sequence before a header, empty records) are named by file, record and line."""

from __future__ import annotations

import random

import pytest
import torch
from files_genomics import random_bases, write_fasta
from zoo.tasks import DataError
from zoo.tasks.genomics.fasta import read_fasta
from zoo.tasks.genomics.nucleotides import VOCAB, A, C, G, InvalidBaseError, N, T, decode, encode, reverse_complement


def test_encoding_maps_case_rna_and_ambiguity_codes():
    assert encode(b"ACGTacgtUuNn").tolist() == [A, C, G, T, A, C, G, T, T, T, N, N]
    assert set(encode(b"RYSWKMBDHVryswkmbdhv").tolist()) == {N}
    assert decode(encode(b"acgtn")) == "ACGTN" and len(VOCAB) == 9
    with pytest.raises(InvalidBaseError, match=r"'7' at position 3 is not a nucleotide"):
        encode(b"ACG7T")
    with pytest.raises(InvalidBaseError, match=r"'-' at position 1"):
        encode(b"A-C")


def test_reverse_complement(seed):
    rng = random.Random(seed)
    text = random_bases(rng, 200, "ACGTN")
    ids = encode(text.encode())
    complement = {"A": "T", "C": "G", "G": "C", "T": "A", "N": "N"}
    assert decode(reverse_complement(ids)) == "".join(complement[b] for b in reversed(text))
    assert torch.equal(reverse_complement(reverse_complement(ids)), ids)
    batch = torch.stack([ids, ids.flip(0)])
    assert torch.equal(reverse_complement(batch)[1], reverse_complement(ids.flip(0)))


@pytest.mark.parametrize("compress", [False, True])
def test_multi_record_files_plain_and_gzip(tmp_path, seed, compress):
    rng = random.Random(seed)
    records = {f"chr{i}": random_bases(rng, rng.randint(1, 500)) + random_bases(rng, 20).lower() for i in range(4)}
    path = tmp_path / ("genome.fa.gz" if compress else "genome.fa")
    write_fasta(path, records, width=rng.randint(10, 80), compress=compress)
    read = list(read_fasta(path))
    assert [r.name for r in read] == list(records) and read[0].description == "some description"
    for record in read:
        assert record.ids.dtype == torch.uint8 and decode(record.ids) == records[record.name].upper()


@pytest.mark.parametrize("text, message", [
    (">a\nACGT\n>b\nAC#T\n", r"line 4 \(record 'b'\): '#' at position 2 is not a nucleotide"),
    ("ACGT\n>a\nACGT\n", r"line 1: sequence before the first '>' header"),
    (">a\n>b\nACGT\n", r"record 'a' has no sequence lines"),
    ("", r"no '>' header line"),
])
def test_malformed_files_are_named(tmp_path, text, message):
    path = tmp_path / "bad.fa"
    path.write_text(text)
    with pytest.raises(DataError, match=rf"bad\.fa.*{message}"):
        list(read_fasta(path))


def test_truncated_gzip_is_named(tmp_path, seed):
    rng = random.Random(seed)
    path = tmp_path / "genome.fa.gz"
    write_fasta(path, {"chr1": random_bases(rng, 20_000)}, compress=True)
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(DataError, match=r"genome\.fa\.gz: unreadable after line \d+ .*truncated or corrupt"):
        list(read_fasta(path))


def test_missing_file_is_named(tmp_path):
    with pytest.raises(DataError, match=r"FASTA file not found: .*none\.fa"):
        list(read_fasta(tmp_path / "none.fa"))
