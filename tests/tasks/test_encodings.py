"""Text data files that are not UTF-8 (a Latin-1 export, say) are named with what to do, in every reader of text
files: TSV texts, CSV series, ListOps."""

import pytest
from zoo.tasks import DataError
from zoo.tasks.lra.listops import read_listops
from zoo.tasks.text_classification import read_examples
from zoo.tasks.timeseries.forecasting import read_series

LATIN1 = {
    "texts.tsv": (b"label\ttext\na\tcaf\xe9\n", lambda path: read_examples(path, "text", "label")),
    "series.csv": (b"date,OT\n2016-07-01 00:00:00,1.5\n2016-07-01 01:00:00,2\xb05\n", lambda path: read_series(path)),
    "listops.tsv": (b"Source\tTarget\n( [MAX 2 9 ] )\t9\n( [MIN 4 \xa7 ] )\t4\n", lambda path: read_listops(path, 100)),
}


@pytest.mark.parametrize("name", LATIN1)
def test_a_file_that_is_not_utf8_is_named(name, tmp_path):
    content, read = LATIN1[name]
    (tmp_path / name).write_bytes(content)
    with pytest.raises(DataError, match=rf"{name} is not UTF-8 text .* convert it to UTF-8"):
        read(tmp_path / name)
