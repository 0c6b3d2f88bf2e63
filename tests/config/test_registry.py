import pandas as pd
import pytest

from ganstyle.config.registry import load_registry, load_study
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
    assert load_study(tsv, base=folders).source("a").root == folders / "a"


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
    with pytest.raises(UserError, match=r"c\.tsv line 1: no column 'label'"):
        load_registry(write(folders / "c.tsv", "culture\tpath\na\ta\n"), base=folders)
    with pytest.raises(UserError, match="listed twice"):
        load_registry(write(folders / "d.tsv", "culture\tpath\tlabel\na\ta\tA\na\tb\tB\n"), base=folders)


def test_missing_folder_is_named(folders):
    study = load_study(write(folders / "c.tsv", "culture\tpath\tlabel\nz\tnowhere\tZ\n"), base=folders)
    with pytest.raises(UserError, match="image folder not found"):
        study.source("z")


def test_metadata_table_adds_cultures_and_files(folders):
    tsv = write(folders / "cultures.tsv", "culture\tpath\tlabel\na\ta\tA\n")
    write(folders / "museum.csv", "file,origin\nb/x.png,m\n")
    metadata = {"path": "museum.csv", "image_column": "file", "culture_column": "origin"}
    study = load_study(tsv, metadata, base=folders)
    assert study.cultures == ["a", "m"]
    source = study.source("m")
    assert source.files == (folders / "b" / "x.png",) and source.root == folders and not source.folder


def test_metadata_missing_column_names_config_key(folders):
    tsv = write(folders / "cultures.tsv", "culture\tpath\tlabel\na\ta\tA\n")
    write(folders / "museum.csv", "file,origin\nb/x.png,m\n")
    with pytest.raises(UserError, match=r"museum\.csv line 1: no column 'image' \(config key 'metadata.image_column'\)"):
        load_registry(tsv, {"path": "museum.csv", "culture_column": "origin"}, base=folders)


def test_empty_registry_is_an_error(folders):
    with pytest.raises(UserError, match="no cultures"):
        load_registry(write(folders / "c.tsv", "culture\tpath\tlabel\n"), base=folders)


def images(folder, names):
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_bytes(b"")


def test_a_table_alone_is_a_study(folders):
    """No registry (cultures: null), or an empty one: the cultures come from the table, in id order."""
    images(folders / "img", [f"{k}.png" for k in range(5)])
    write(folders / "museum.csv", 'Object ID,Culture\n0,Roman\n1,"Greek, Attic"\n2,Roman\n3,"Greek, Attic"\n4,Etruscan\n')
    metadata = {"path": "museum.csv", "culture_column": "Culture", "image": "img/{Object ID}.png"}
    empty = write(folders / "empty.tsv", "culture\tpath\tlabel\n")
    for cultures in (None, empty):
        study = load_study(cultures, metadata, min_images=2, base=folders)
        assert study.cultures == ["greek_attic", "roman"]  # etruscan: 1 row < min_images
        assert study.registry.loc["greek_attic", "label"] == "Greek, Attic" and study.registry.loc["roman", "path"] == ""
        assert [p.name for p in study.source("roman").files] == ["0.png", "2.png"]
    with pytest.raises(UserError, match=r"culture 'etruscan' is not in the study \(its rows in the metadata table are fewer than ingest.min_images\)"):
        study.source("etruscan")
    with pytest.raises(UserError, match="both empty"):
        load_study(None, None)


def test_registry_rows_without_a_folder_give_table_cultures_groups_and_coordinates(folders):
    images(folders / "img", [f"{k}.png" for k in range(4)])
    write(folders / "museum.csv", "image,culture\nimg/0.png,Greek\nimg/1.png,Greek\nimg/2.png,Roman\nimg/3.png,Roman\n")
    tsv = write(folders / "cultures.tsv", "culture\tpath\tlabel\tgroup\tlat\tlon\na\ta\tA\tg1\t1\t2\ngreek\t\tHellenic\tmediterranean\t37.98\t23.73\n")
    study = load_study(tsv, {"path": "museum.csv"}, min_images=2, base=folders)
    assert study.cultures == ["a", "greek", "roman"]  # registry order, then the table's others by id
    greek = study.registry.loc["greek"]
    assert (greek["label"], greek["group"], greek["lat"]) == ("Hellenic", "mediterranean", 37.98)
    assert study.source("a").folder and study.source("a").files is None  # a folder culture is untouched
    assert pd.isna(study.registry.loc["roman", "group"]) and study.registry.loc["roman", "label"] == "Roman"
    # a folder culture is exempt from min_images in the table: its folder adds images
    write(folders / "one.csv", "image,culture\nimg/0.png,a\n")
    only_a = write(folders / "a.tsv", "culture\tpath\tlabel\na\ta\tA\n")
    study = load_study(only_a, {"path": "one.csv"}, min_images=2, base=folders)
    assert study.cultures == ["a"] and {p.name for p in study.source("a").files} == {"x.png", "0.png"}


def test_a_registry_culture_without_folder_or_rows_is_named(folders):
    tsv = write(folders / "cultures.tsv", "culture\tpath\tlabel\nghost\t\tGhost\n")
    with pytest.raises(UserError, match="culture 'ghost' has no folder .* and no metadata table is configured"):
        load_study(tsv, base=folders)
    write(folders / "museum.csv", "image,culture\nb/x.png,m\n")
    with pytest.raises(UserError, match="culture 'ghost' has no folder .* and no row in the metadata table"):
        load_study(tsv, {"path": "museum.csv"}, base=folders)


def test_a_group_given_in_two_places_must_agree(folders):
    images(folders / "img", ["0.png"])
    write(folders / "museum.csv", "image,culture\nimg/0.png,Greek\n")
    write(folders / "map.tsv", "value\tculture\tgroup\nGreek\tgreek\tbalkan\n")
    tsv = write(folders / "cultures.tsv", "culture\tpath\tlabel\tgroup\ngreek\t\tGreek\tmediterranean\n")
    with pytest.raises(UserError, match=r"culture 'greek': group 'mediterranean' in the registry but 'balkan' in .*map\.tsv line 2"):
        load_study(tsv, {"path": "museum.csv", "mapping": "map.tsv"}, base=folders)


def test_the_digest_changes_when_an_image_appears(folders):
    images(folders / "img", ["0.png"])
    write(folders / "museum.csv", "image,culture\nimg/0.png,Greek\nimg/1.png,Greek\n")
    before = load_study(None, {"path": "museum.csv"}, base=folders)
    assert before.digest() == load_study(None, {"path": "museum.csv"}, base=folders).digest()
    images(folders / "img", ["1.png"])
    after = load_study(None, {"path": "museum.csv"}, base=folders)
    assert after.digest() != before.digest() and len(after.source("greek").files) == 2
