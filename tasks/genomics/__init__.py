"""Genomics: nucleotide tokens, streaming FASTA reading, and the tasks built on them. Every module here registers its
tasks on import."""

import importlib as _importlib
import pkgutil as _pkgutil

for _info in _pkgutil.iter_modules(__path__):
    _importlib.import_module(f"{__name__}.{_info.name}")
