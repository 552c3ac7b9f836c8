"""The six Jane Austen novels as plain text: `zoo data prepare lra/austen` writes them, `read_books` reads them back.

They come from the Debian package r-cran-janeaustenr (MIT), which stores each novel as an R character vector (one
element per printed line) in the package's lazy-load database: `data/Rdata.rdx` is a gzip-compressed R serialisation
of a list `variables` (name -> the pair (offset, length) in `Rdata.rdb`), `references` and `compressed`; the bytes
of `Rdata.rdb` at (offset, length) are a 4-byte big-endian uncompressed size followed by the zlib-compressed R
serialisation of the object. PyPI `rdata` (Python >= 3.11) parses the serialisations.

The prepared folder holds one UTF-8 file per novel, `<Title>.txt`: the novel's lines joined by newlines, ending with
one; together the six hold about 4.03 million characters. The offline stand-ins for LRA Text and Retrieval read it
(`read_books`), and so can a folder of any other books written the same way.
"""

from __future__ import annotations

import argparse
import sys
import zlib
from pathlib import Path

from rich.console import Console
from rich.progress import track
from rich.table import Table
from zoo.tasks.base import DataError
from zoo.tasks.debian import debian_file
from zoo.tasks.prepare import register_preparer

from zoo.atomic import atomic_write_text

PACKAGE = "r-cran-janeaustenr"
DATABASE = "/usr/lib/R/site-library/janeaustenr/data/Rdata.rdb"
PREPARER = "lra/austen"
# The package's object names and the titles the novels were published under (the names of the prepared files).
TITLES = {
    "emma": "Emma",
    "mansfieldpark": "Mansfield Park",
    "northangerabbey": "Northanger Abbey",
    "persuasion": "Persuasion",
    "prideprejudice": "Pride and Prejudice",
    "sensesensibility": "Sense and Sensibility",
}


def read_lazy_load_database(database: Path) -> dict[str, object]:
    """The objects of an R lazy-load database (`<name>.rdb` with its index `<name>.rdx` beside it), by name, as
    `rdata` converts them (a character vector becomes a numpy array of str). Needs PyPI `rdata`."""
    import rdata  # imported here: it pulls in pandas and xarray, which nothing else of `zoo.tasks` needs

    index_path = database.with_suffix(".rdx")
    try:
        index = rdata.read_rds(index_path)
        blob = database.read_bytes()
    except (OSError, ValueError) as error:
        raise DataError(f"cannot read the R database {database} and its index {index_path.name}: {error}; "
                        f"run `zoo data prepare {PREPARER}` again to unpack a fresh copy") from error
    if not isinstance(index, dict) or not isinstance(index.get("variables"), dict):
        raise DataError(f"{index_path} is not the index of an R lazy-load database (a list naming `variables`)")
    compression = [int(flag) for flag in index.get("compressed", [])]  # R's TRUE: zlib; 2: bzip2; 3: xz
    if compression != [1]:
        raise DataError(f"{index_path}: compression {compression} is not zlib (TRUE), the only one this reader knows")
    objects = {}
    for name, (offset, length) in track(list(index["variables"].items()), description=f"reading {database.name}"):
        name, offset, length = str(name), int(offset), int(length)
        entry = blob[offset:offset + length]
        try:
            serialised = zlib.decompress(entry[4:])
            if len(serialised) != int.from_bytes(entry[:4], "big"):
                raise ValueError(f"{len(serialised)} bytes where the entry's header says {entry[:4].hex()}")
            objects[name] = rdata.conversion.convert(rdata.parser.parse_data(serialised, extension=".rds"))
        except Exception as error:  # zlib and rdata raise errors of many types on damaged bytes
            raise DataError(f"{database}: the object {name!r} at bytes {offset}-{offset + length} is damaged "
                            f"({error}); run `zoo data prepare {PREPARER}` again") from error
    return objects


def novel_texts(database: Path) -> dict[str, str]:
    """Title -> the novel's text (its lines joined by newlines, ending with one), read from the janeaustenr
    database; raises `DataError` when a novel is missing or is not a vector of lines."""
    objects = read_lazy_load_database(database)
    missing = sorted(set(TITLES) - set(objects))
    if missing:
        raise DataError(f"{database} lacks the novel(s) {', '.join(missing)} (it holds {', '.join(objects)}); "
                        f"this {PACKAGE} has another layout than the one seqzoo reads")
    texts = {}
    for name in sorted(TITLES):
        lines = objects[name]
        if getattr(lines, "ndim", 0) != 1 or not all(isinstance(line, str) for line in lines):
            raise DataError(f"{database}: {name!r} is not a vector of text lines but {type(lines).__name__}")
        texts[TITLES[name]] = "\n".join(lines) + "\n"
    return texts


@register_preparer(PREPARER, f"the six Austen novels as text files (LRA Text / Retrieval stand-ins), from Debian "
                             f"{PACKAGE}")
def prepare_austen(args: argparse.Namespace) -> Path:
    """Unpack r-cran-janeaustenr (when no copy is on this machine), write `<args.out>/<Title>.txt` for each novel
    (each file atomically) and print their lines, characters and bytes; return `args.out`."""
    if sys.version_info < (3, 11):
        raise DataError(f"`zoo data prepare {PREPARER}` reads R data with PyPI rdata, which needs Python >= 3.11 "
                        f"(this is {sys.version.split()[0]}); run it once with Python 3.11+ and point data_dir at "
                        "its output folder")
    try:
        import rdata  # noqa: F401  (checked before anything is downloaded)
    except ImportError as error:
        raise DataError(f"`zoo data prepare {PREPARER}` needs PyPI rdata: `pip install rdata`") from error
    texts = novel_texts(debian_file(PACKAGE, DATABASE, fetch=True, prepare=PREPARER))
    counts = {}
    for title, text in texts.items():
        atomic_write_text(Path(args.out) / f"{title}.txt", text)
        counts[title] = (text.count("\n"), len(text), len(text.encode("utf-8")))
    counts["all six"] = tuple(map(sum, zip(*counts.values())))
    table = Table(title=f"{PREPARER}: {args.out}")
    for column in ("book", "lines", "characters", "UTF-8 bytes"):
        table.add_column(column, justify="left" if column == "book" else "right")
    for title, numbers in counts.items():
        table.add_row(title, *(f"{number:,}" for number in numbers))
    Console().print(table)
    return Path(args.out)


def read_books(folder: Path) -> dict[str, bytes]:
    """Title -> UTF-8 bytes of every `<Title>.txt` in `folder`, sorted by title (the class order of the stand-ins).

    Raises `DataError` for a missing folder, fewer than two books, an empty book or one that is not UTF-8 (naming
    the file and line).
    """
    if not folder.is_dir():
        raise DataError(f"no folder of books at {folder}; run `zoo data prepare {PREPARER}` (it writes the Austen "
                        "novels there) or set the task's data_dir to a folder of <Title>.txt files")
    books = {}
    for path in sorted(folder.glob("*.txt"), key=lambda path: path.stem):
        try:
            data = path.read_bytes()
        except OSError as error:
            raise DataError(f"cannot read the book {path}: {error.strerror or error}") from error
        if not data.strip():
            raise DataError(f"{path} is empty; remove it or run `zoo data prepare {PREPARER}` again")
        try:
            data.decode("utf-8")
        except UnicodeDecodeError as error:
            line = data.count(b"\n", 0, error.start) + 1
            raise DataError(f"{path}, line {line}: not UTF-8 text ({error.reason}); save the book as UTF-8") from None
        books[path.stem] = data
    if len(books) < 2:
        raise DataError(f"{folder} holds {len(books)} book(s) (<Title>.txt); telling books apart needs at least two; "
                        f"run `zoo data prepare {PREPARER}`")
    return books
