"""Tokenizers for language models whose tokens are characters (the nucleotide vocabulary): written beside the weights
as Hugging Face `tokenizers` files, so that `AutoTokenizer.from_pretrained(<export>)` turns text into the ids the
model reads, and tools such as lm-evaluation-harness's `hf` backend take the folder as it is.

Special tokens are spelled `<name>` (`<pad>`, `<bos>`, `<eos>`, `<mask>`) and read whole; every other character is one
token, lowercase letters as their capitals; a character outside the vocabulary becomes the task's unknown symbol
(`N` for bases).
"""

from __future__ import annotations

import json
from pathlib import Path

from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers

TOKENIZER_FILE = "tokenizer.json"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
# transformers' names of the special tokens, by their spelling in our vocabularies
SPECIAL_ROLES = {"<pad>": "pad_token", "<bos>": "bos_token", "<eos>": "eos_token", "<mask>": "mask_token",
                 "<unk>": "unk_token"}


def write_tokenizer(folder: Path, symbols: tuple[str, ...], unknown: str, max_length: int) -> None:
    """Write `tokenizer.json` and `tokenizer_config.json` for the vocabulary `symbols` (the text of each id, in id
    order) into `folder`; `unknown`: the symbol that characters outside the vocabulary become."""
    specials = [symbol for symbol in symbols if symbol.startswith("<") and symbol.endswith(">")]
    tokenizer = Tokenizer(models.WordLevel({symbol: index for index, symbol in enumerate(symbols)}, unk_token=unknown))
    pattern = "|".join([*(s.replace("<", "\\<").replace(">", "\\>") for s in specials), "."])
    letters = [s for s in symbols if len(s) == 1 and s.isupper()]
    if letters:  # lowercase letters read as their capitals (soft-masked bases are bases)
        tokenizer.normalizer = normalizers.Sequence([normalizers.Replace(s.lower(), s) for s in letters])
    tokenizer.pre_tokenizer = pre_tokenizers.Split(Regex(pattern), behavior="isolated")
    tokenizer.decoder = decoders.Fuse()
    tokenizer.add_special_tokens(specials)
    tokenizer.save(str(folder / TOKENIZER_FILE))
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": max_length,
              "clean_up_tokenization_spaces": False,
              **{SPECIAL_ROLES[s]: s for s in specials if s in SPECIAL_ROLES}}
    (folder / TOKENIZER_CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
