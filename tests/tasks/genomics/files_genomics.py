"""Small files in the real formats of the genomics tasks, written by tests: FASTA (plain or gzip), MAF alignments, a
ragout-style folder of genomes, GenomicBenchmarks and Nucleotide Transformer folders, mlbench's DNA.rda."""

from __future__ import annotations

import gzip
import random
from pathlib import Path


def random_bases(rng: random.Random, length: int, alphabet: str = "ACGT") -> str:
    return "".join(rng.choice(alphabet) for _ in range(length))


def write_fasta(path: Path, records: dict[str, str], width: int = 60, compress: bool = False) -> None:
    """`records` (name -> bases) as FASTA, `width` bases a line, gzip-compressed with `compress`."""
    text = "".join(f">{name} some description\n" + "".join(seq[i:i + width] + "\n" for i in range(0, len(seq), width))
                   for name, seq in records.items())
    if compress:
        with gzip.open(path, "wb") as file:
            file.write(text.encode())
    else:
        path.write_text(text)


def write_maf(path: Path, blocks: list[list[tuple[str, int, str]]], compress: bool = False,
              strand: str = "+") -> None:
    """blocks: rows of (src, start, text); srcSize 10^6."""
    lines = ["##maf version=1 scoring=none", "# a comment"]
    for index, rows in enumerate(blocks):
        lines.append(f"a score={index}.5")
        for src, start, text in rows:
            size = len(text) - text.count("-")
            lines.append(f"s {src} {start} {size} {strand} 1000000 {text}")
        lines.append("i homo_sapiens.22 C 0 C 0" if index == 0 else "")
        lines.append("")
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data) if compress else data)


# species -> strains (the first strain of each is held out in the tests' configs)
GENOMES = {"Alpha": ("A1", "A2"), "Beta": ("B1", "B2", "B3"), "Gamma": ("C1", "C2")}
HELD_OUT = [f"{species}/{strains[0]}" for species, strains in GENOMES.items()]


def write_genomes(folder: Path, seed: int, length: int = 3000) -> tuple[Path, dict[tuple[str, str], dict[str, str]]]:
    """A ragout-style folder `<Species>/references/<Strain>.fasta.gz` of random genomes (Gamma strains with two
    records, as V.Cholerae's chromosomes), each species with its own base composition; returns the bases by
    (species, strain) and record."""
    rng = random.Random(seed)
    written = {}
    for index, (species, strains) in enumerate(GENOMES.items()):
        alphabet = "ACGT" + "ACGT"[index] * 3  # a species-specific bias, so that species can be told apart
        for strain in strains:
            records = {f"{strain}_chr1": random_bases(rng, length, alphabet)}
            if species == "Gamma":
                records[f"{strain}_chr2"] = random_bases(rng, length // 2, alphabet)
            target = folder / species / "references" / f"{strain}.fasta.gz"
            target.parent.mkdir(parents=True, exist_ok=True)
            write_fasta(target, records, compress=True)
            written[species, strain] = records
    return folder, written


def write_chr22(folder: Path, seed: int, blocks: int = 40, size: int = 200) -> tuple[Path, str]:
    """A MAF of `blocks` blocks whose human rows (`Hsap.22`) hold `size` bases each at increasing coordinates, with a
    chimp row; returns the file and the human bases joined in order."""
    rng = random.Random(seed)
    rows, human, start = [], [], 1000
    for _ in range(blocks):
        bases = random_bases(rng, size, "ACGTacgt")
        rows.append([("Hsap.22", start, bases), ("Ptro.22", start + 7, random_bases(rng, size))])
        human.append(bases.upper())
        start += size + rng.randrange(0, 50)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "chr22.maf.gz"
    write_maf(path, rows, compress=True)
    return path, "".join(human)


def write_genomic_benchmark(folder: Path, seed: int, classes: tuple[str, ...] = ("negative", "positive"),
                            per_class: tuple[int, int] = (12, 4)) -> Path:
    """A GenomicBenchmarks dataset `<folder>/{train,test}/<class>/<i>.txt` of sequences of 20-40 bases (lowercase
    and N allowed), `per_class` (train, test) files a class."""
    rng = random.Random(seed)
    for split, count in zip(("train", "test"), per_class):
        for name in classes:
            (folder / split / name).mkdir(parents=True, exist_ok=True)
            for index in range(count):
                (folder / split / name / f"{index}.txt").write_text(random_bases(rng, rng.randrange(20, 41),
                                                                                 "ACGTacgN") + "\n")
    return folder


def write_nt_downstream(folder: Path, seed: int, counts: tuple[int, int] = (20, 6), classes: int = 2) -> Path:
    """A Nucleotide Transformer task folder: `train.fna` and `test.fna` with headers `>name|label`."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for split, count in zip(("train", "test"), counts):
        labels = [index % classes for index in range(count)]
        write_fasta(folder / f"{split}.fna", {f"seq{index}|{label}": random_bases(rng, rng.randrange(30, 61))
                                              for index, label in enumerate(labels)})
    return folder


CODES = {"A": ("1", "0", "0"), "C": ("0", "1", "0"), "G": ("0", "0", "1"), "T": ("0", "0", "0")}


def write_splice_rda(folder: Path, seed: int, counts: tuple[int, int, int] = (400, 400, 800),
                     bad: tuple[int, int] | None = None) -> tuple[Path, list[str], list[str]]:
    """mlbench's DNA.rda in its real format (a data frame of 180 factor columns V1..V180 of "0"/"1" and the factor
    Class of levels ei, ie, n), rows of random bases in random class order; `bad` = (row, base) writes the code
    1 1 1 there. Returns the file, the bases of every row and the classes."""
    import pandas
    import rdata

    rng = random.Random(seed)
    classes = [name for name, count in zip(("ei", "ie", "n"), counts) for _ in range(count)]
    rng.shuffle(classes)
    sequences = [random_bases(rng, 60) for _ in classes]
    bits = [[bit for base in sequence for bit in CODES[base]] for sequence in sequences]
    if bad is not None:
        row, base = bad
        bits[row][3 * base:3 * base + 3] = ["1", "1", "1"]
    columns = {f"V{index + 1}": pandas.Categorical([row[index] for row in bits], categories=["0", "1"])
               for index in range(180)}
    columns["Class"] = pandas.Categorical(classes, categories=["ei", "ie", "n"])
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "DNA.rda"
    rdata.write_rda(path, {"DNA": pandas.DataFrame(columns)})
    return path, sequences, classes
