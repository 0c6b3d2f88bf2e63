"""Tables as users hand them over (ganstyle.io.tables): delimiters by content, BOMs, encodings, quoting, errors."""

import codecs

import pytest

from ganstyle.errors import UserError
from ganstyle.io.tables import read_header, read_table, record_lines


def write(path, data: bytes):
    path.write_bytes(data)
    return path


def read(path, **kwargs):
    header = read_header(path, "table", **kwargs)
    return header, read_table(header)


@pytest.mark.parametrize(
    ("name", "text", "kind"),
    [
        ("a.csv", "id,culture\n1,Greek\n", "CSV"),
        ("a.csv", "id\tculture\n1\tGreek, Attic\n", "TSV"),  # the suffix says CSV, the content says TSV
        ("a.tsv", "id,culture\n1,Greek\n", "CSV"),
        ("a.txt", 'id;culture;"a,b,c"\n1;Greek;x\n', "semicolon-separated"),  # commas inside quotes do not count
    ],
)
def test_the_delimiter_comes_from_the_header_line(tmp_path, name, text, kind):
    header, table = read(write(tmp_path / name, text.encode()))
    assert header.describe() == f"{kind}, utf-8"
    assert table.frame.loc[0, "culture"] in ("Greek", "Greek, Attic") and table.frame.loc[0, "id"] == "1"


def test_a_utf8_bom_is_skipped_and_every_cell_stays_text(tmp_path):
    path = write(tmp_path / "met.csv", codecs.BOM_UTF8 + b"Object ID,Culture,Gallery Number\n0012,NA,\n7,null,\n")
    header, table = read(path)
    assert header.columns[0] == "Object ID" and header.describe() == "CSV, utf-8 with BOM"
    assert table.frame.to_dict("list") == {"Object ID": ["0012", "7"], "Culture": ["NA", "null"], "Gallery Number": ["", ""]}


def test_quoted_fields_hold_delimiters_quotes_and_newlines(tmp_path):
    text = 'id,title,culture\n1,"Fragment, inscribed ""A""\nsecond line",Greek\n2,plain,"Greek, Attic"\n\n3,x,Roman\n'
    path = write(tmp_path / "t.csv", text.encode())
    header, table = read(path)
    assert list(table.frame["title"]) == ['Fragment, inscribed "A"\nsecond line', "plain", "x"]
    assert list(table.frame["culture"]) == ["Greek", "Greek, Attic", "Roman"]
    # record 0 starts on line 2, record 1 on line 4 (the quoted newline), record 2 after a blank line
    assert record_lines(header) == [2, 4, 6] and table.line(1) == 4


def test_only_the_columns_asked_for_are_read(tmp_path):
    path = write(tmp_path / "t.csv", b"a,b,c\n1,2,3\n")
    table = read_table(read_header(path, "t"), ["c", "a"])
    assert list(table.frame.columns) == ["c", "a"] and table.frame.iloc[0].tolist() == ["3", "1"]


def test_other_encodings_by_name_and_utf16_by_its_bom(tmp_path):
    cp1252 = write(tmp_path / "cp.csv", "id,culture\n1,Fran\u00e7ais \u2013 \u00e9t\u00e9\n".encode("cp1252"))
    header, table = read(cp1252, encoding="cp1252")
    assert table.frame.loc[0, "culture"] == "Fran\u00e7ais \u2013 \u00e9t\u00e9" and header.encoding == "cp1252"
    utf16 = write(tmp_path / "excel.txt", "id\tculture\n1\tGreek, Attic\n".encode("utf-16"))  # Excel's "Unicode text"
    header, table = read(utf16)
    assert header.describe() == "TSV, utf-16-le with BOM" and table.frame.loc[0, "culture"] == "Greek, Attic"


def test_bytes_that_are_not_utf8_are_named_by_file_line_and_column(tmp_path):
    path = write(tmp_path / "latin.csv", 'id,title,culture\n1,a,Greek\n2,b,"Fran\u00e7ais"\n'.encode("latin-1"))
    with pytest.raises(UserError) as err:
        read(path)
    message = str(err.value)
    assert str(path) in message and "line 3, column 'culture'" in message and "0xe7" in message and "encoding" in message
    # named, it reads
    assert read(path, encoding="latin-1")[1].frame.loc[1, "culture"] == "Fran\u00e7ais"


def test_a_byte_the_encoding_lacks_is_named_too(tmp_path):
    path = write(tmp_path / "cp.csv", b"id,culture\n1,Greek\n2,caf\x81\n")  # 0x81 is undefined in cp1252
    with pytest.raises(UserError, match=r"cp\.csv line 3, column 'culture': byte 0x81 .* cp1252"):
        read(path, encoding="cp1252")


def test_an_undecodable_header_and_an_unknown_encoding(tmp_path):
    path = write(tmp_path / "h.csv", b"id,cult\xffure\n1,a\n")
    with pytest.raises(UserError, match=r"h\.csv line 1: byte 0xff"):
        read(path)
    with pytest.raises(UserError, match=r"config key 'metadata.encoding': unknown text encoding 'klingon'"):
        read_header(path, "table", "klingon", "metadata.encoding")


def test_a_row_with_too_many_fields_is_named_by_its_line(tmp_path):
    path = write(tmp_path / "r.csv", b'id,culture\n1,"Greek\nAttic"\n2,Roman,extra\n')
    with pytest.raises(UserError, match=r"r\.csv line 4: 3 fields where the header has 2"):
        read(path)


def test_missing_columns_name_the_file_line_1_and_who_asked(tmp_path):
    header = read_header(write(tmp_path / "m.csv", b"Object ID,Culture\n1,Greek\n"), "table")
    with pytest.raises(UserError, match=r"m\.csv line 1: no column 'culture' \(config key 'metadata.culture_column'\); did you mean 'Culture'\?"):
        header.require({"culture": "config key 'metadata.culture_column'"})
    with pytest.raises(UserError, match=r"no column 'Period' .*its columns are 'Object ID', 'Culture'"):
        header.require({"Period": "config key 'metadata.culture_column'"})


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(UserError, match="metadata table not found"):
        read_header(tmp_path / "nowhere.csv", "metadata table")
    with pytest.raises(UserError, match="is empty"):
        read_header(write(tmp_path / "e.csv", codecs.BOM_UTF8 + b"\n"), "table")


def test_rows_missing_trailing_fields_have_blank_cells(tmp_path):
    path = write(tmp_path / "map.tsv", b"value\tculture\tlabel\tgroup\nGreek\tgreek\nRoman\troman\tRoman\teuropean\n")
    _, table = read(path)
    assert table.frame.to_dict("list") == {"value": ["Greek", "Roman"], "culture": ["greek", "roman"], "label": ["", "Roman"], "group": ["", "european"]}
