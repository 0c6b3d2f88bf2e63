import pandas as pd
import pytest

from ganstyle.config.registry import culture_source, load_registry
from ganstyle.errors import UserError


def write(path, text):
    path.write_text(text)
    return path


@pytest.fixture
def folders(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "x.png").write_bytes(b"")
    return tmp_path


def test_valid_registry(folders):
    tsv = write(folders / "cultures.tsv", "culture\tpath\tlabel\tgroup\tlat\tlon\na\ta\tA\tg1\t10\t20\nb\tb\tB\t\t\t\n")
    registry = load_registry(tsv, base=folders)
    assert list(registry["culture"]) == ["a", "b"]
    assert registry.loc["a", "lat"] == 10.0
    assert pd.isna(registry.loc["b", "group"])
    assert culture_source(registry, "a", base=folders).root == folders / "a"


@pytest.mark.parametrize(
    "row, message",
    [
        ("Bad-Id\ta\tA", r"line 2 \('Bad-Id'\): column 'culture'"),
        ("a\ta\t", r"column 'label'|'label' is a required"),
        ("a\ta\tA\t\t95\t0", r"column 'lat'"),
        ("a\ta\tA\t\tnorth\t0", r"column 'lat'"),
    ],
)
def test_bad_row_is_named(folders, row, message):
    tsv = write(folders / "cultures.tsv", "culture\tpath\tlabel\tgroup\tlat\tlon\n" + row + "\n")
    with pytest.raises(UserError, match=message):
        load_registry(tsv, base=folders)


def test_missing_column_and_duplicates(folders):
    with pytest.raises(UserError, match="missing column"):
        load_registry(write(folders / "c.tsv", "culture\tpath\na\ta\n"), base=folders)
    with pytest.raises(UserError, match="listed twice"):
        load_registry(write(folders / "d.tsv", "culture\tpath\tlabel\na\ta\tA\na\tb\tB\n"), base=folders)


def test_missing_folder_is_named(folders):
    registry = load_registry(write(folders / "c.tsv", "culture\tpath\tlabel\nz\tnowhere\tZ\n"), base=folders)
    with pytest.raises(UserError, match="image folder not found"):
        culture_source(registry, "z", base=folders)


def test_metadata_table_adds_cultures_and_files(folders):
    tsv = write(folders / "cultures.tsv", "culture\tpath\tlabel\na\ta\tA\n")
    write(folders / "museum.csv", "file,origin\nb/x.png,m\n")
    metadata = {"path": "museum.csv", "image_column": "file", "culture_column": "origin"}
    registry = load_registry(tsv, metadata, base=folders)
    assert list(registry["culture"]) == ["a", "m"]
    source = culture_source(registry, "m", metadata, base=folders)
    assert source.files == (folders / "b" / "x.png",)


def test_metadata_missing_column_names_config_key(folders):
    tsv = write(folders / "cultures.tsv", "culture\tpath\tlabel\na\ta\tA\n")
    write(folders / "museum.csv", "file,origin\nb/x.png,m\n")
    with pytest.raises(UserError, match="metadata.image_column"):
        load_registry(tsv, {"path": "museum.csv"}, base=folders)


def test_empty_registry_is_an_error(folders):
    with pytest.raises(UserError, match="no cultures"):
        load_registry(write(folders / "c.tsv", "culture\tpath\tlabel\n"), base=folders)
