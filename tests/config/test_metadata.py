"""Museum exports as they come (ganstyle.config.metadata): ids from free text, image patterns, filters,
multi-valued cells, mapping files, and a reason for every row left out."""

import hashlib

import numpy as np
import pandas as pd
import pytest
from met_export import build_met_export, met_metadata

from ganstyle.config.metadata import REASONS, ImagePattern, read_mapping, select_rows, slug
from ganstyle.config.registry import load_study, metadata_settings
from ganstyle.errors import UserError


@pytest.mark.parametrize(
    ("text", "culture"),
    [
        ("Greek, Attic", "greek_attic"),
        ("Chinese (Qing dynasty)", "chinese_qing_dynasty"),
        ("  Égyptien — Époque ptolémaïque ", "egyptien_epoque_ptolemaique"),
        ("latin", "latin"),  # ids stay ids: tables written for earlier versions read as before
        ("19th-century French", "19th_century_french"),
        ("中国", "culture_" + hashlib.sha256("中国".encode()).hexdigest()[:8]),
        ("x" * 80 + " y", "x" * 60),
    ],
)
def test_free_text_becomes_a_stable_id(text, culture):
    assert slug(text) == culture


def test_an_image_pattern_names_columns_in_braces():
    pattern = ImagePattern.parse("images/{Department}/{Object ID}_{{a}}.jpg", "metadata.image")
    assert pattern.columns == ["Department", "Object ID"]
    frame = pd.DataFrame({"Department": ["Asian Art", "Egyptian Art"], "Object ID": [" 12", ""]})
    paths, blank = pattern.render(frame)
    assert list(paths) == ["images/Asian Art/12_{a}.jpg", "images/Egyptian Art/_{a}.jpg"] and list(blank) == [False, True]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("images/{Object ID.jpg", r"unmatched '\{' at character 8"),
        ("images/Object ID}.jpg", r"unmatched '\}' at character 17"),
        ("images/{}.jpg", "empty braces at character 8"),
        ("images/all.jpg", "names no column in braces"),
    ],
)
def test_a_broken_pattern_is_named_with_its_config_key(text, message):
    with pytest.raises(UserError, match=rf"config key 'metadata.image': .*{message}"):
        ImagePattern.parse(text, "metadata.image")


def table(tmp_path, text: str, images=(), name="export.csv"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    (tmp_path / "img").mkdir(exist_ok=True)
    for image in images:
        (tmp_path / "img" / image).write_bytes(b"x")
    return path


def select(path, min_images=None, **metadata):
    settings = metadata_settings({"path": str(path), **metadata})
    mapping = path.parent / settings["mapping"] if settings["mapping"] else None
    root = path.parent / settings["root"] if settings["root"] else path.parent
    selection, _ = select_rows(settings, path, mapping, root, min_images)
    return selection


def outcome(selection):
    return list(zip(selection.culture, selection.reason))


def test_every_row_is_used_or_dropped_with_one_reason(tmp_path):
    path = table(
        tmp_path,
        "id,Culture,Public,Classification\n"
        '1,"Greek, Attic",True,Vases\n'
        "2,Roman,False,Vases\n"
        "3,Roman,True,Coins\n"
        "4,,True,Vases\n"
        '5,"Greek, Attic|Roman",True,Vases|Coins\n'
        "6,Roman,True,Ceramics|Vases\n"
        "7,Roman|Roman,True,Vases\n"
        ",Roman,True,Vases\n"
        "9,Roman,True,Vases\n"
        "10,Etruscan,True,Vases\n",
        images=["1.jpg", "2.jpg", "3.jpg", "4.jpg", "5.jpg", "6.jpg", "7.jpg", "10.jpg"],
    )
    selection = select(path, min_images=2, culture_column="Culture", image="img/{id}.jpg", filters={"Public": True, "Classification": ["Vases", "Ceramics"]})
    assert outcome(selection) == [
        ("greek_attic", "below_min_images"),  # one row: fewer than min_images = 2
        ("", "filtered"),
        ("", "filtered"),
        ("", "blank_culture"),
        ("", "multiple_cultures"),
        ("roman", ""),  # Ceramics|Vases: one of its values is listed
        ("roman", ""),  # Roman|Roman: one culture
        ("", "blank_image"),
        ("", "image_missing"),
        ("etruscan", "below_min_images"),
    ]
    assert list(selection.detail[:3]) == ["", "Public", "Classification"]  # each filtered row under the first filter it fails
    assert selection.images == {"roman": (str(tmp_path / "img" / "6.jpg"), str(tmp_path / "img" / "7.jpg"))}
    assert selection.labels["greek_attic"] == "Greek, Attic" and selection.values["roman"] == ["Roman", "Roman|Roman"]


def test_without_a_separator_a_list_is_one_value(tmp_path):
    path = table(tmp_path, "image,culture\n1.jpg,Greek|Roman\n", images=["1.jpg"])
    selection = select(path, separator=None, root=str(tmp_path / "img"))
    assert outcome(selection) == [("greek_roman", "")] and selection.labels["greek_roman"] == "Greek|Roman"


def test_image_paths_from_a_column_relative_to_root_or_absolute(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "b.png").write_bytes(b"x")
    path = table(tmp_path, f"file,culture\na.png,latin\n{tmp_path / 'elsewhere' / 'b.png'},latin\n", images=["a.png"])
    settings = metadata_settings({"path": str(path), "image_column": "file"})
    selection, _ = select_rows(settings, path, None, tmp_path / "img")
    assert list(selection.image) == [str(tmp_path / "img" / "a.png"), str(tmp_path / "elsewhere" / "b.png")]


def test_two_values_with_one_id_are_an_error_naming_both_and_their_lines(tmp_path):
    path = table(tmp_path, 'image,culture,note\n1.jpg,"Greek, Attic","a\nb"\n2.jpg,Greek Attic,c\n', images=["1.jpg", "2.jpg"])
    with pytest.raises(UserError) as err:
        select(path, root=str(tmp_path / "img"))
    message = str(err.value)
    assert str(path) in message and "lines 2 and 4, column 'culture'" in message
    assert "'Greek, Attic' and 'Greek Attic' both become the culture id 'greek_attic'" in message and "metadata.mapping" in message


def test_a_mapping_merges_spellings_assigns_groups_and_drops_the_rest(tmp_path):
    (tmp_path / "map.tsv").write_text(
        "value\tculture\tlabel\tgroup\nGreek\tgreek\tGreek\tmediterranean\nGreek, Attic\tgreek\t\t\nRoman\troman\t\tmediterranean\n"
    )
    path = table(
        tmp_path,
        'image,culture\n1.jpg,"Greek, Attic"\n2.jpg,Greek\n3.jpg,Roman\n4.jpg,Egyptian\n5.jpg,"Greek|Greek, Attic"\n6.jpg,Greek|Egyptian\n',
        images=[f"{k}.jpg" for k in range(1, 7)],
    )
    selection = select(path, mapping="map.tsv", root=str(tmp_path / "img"))
    assert outcome(selection) == [("greek", ""), ("greek", ""), ("roman", ""), ("", "unmapped"), ("greek", ""), ("", "multiple_cultures")]
    assert selection.labels == {"greek": "Greek", "roman": "Roman"}  # Roman: the first value listed for it
    assert selection.groups == {"greek": "mediterranean", "roman": "mediterranean"}
    assert dict(selection.unmapped) == {"Egyptian": 1}


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("Greek\tgreek\nGreek\thellenic\n", r"lines 2 and 3, column 'value': 'Greek' is mapped to both 'greek' and 'hellenic'"),
        ("Greek\tgreek\tGreek\nAttic\tgreek\tHellenic\n", r"lines 2 and 3, column 'label': culture 'greek' has both 'Greek' and 'Hellenic'"),
        ("Greek\tGreek!\n", r"line 2, column 'culture': 'Greek!' is not an id"),
        ("\tgreek\n", r"line 2, column 'value': blank"),
    ],
)
def test_an_ambiguous_mapping_is_an_error_naming_file_lines_and_column(tmp_path, rows, message):
    path = tmp_path / "map.tsv"
    path.write_text("value\tculture\tlabel\n" + rows)
    with pytest.raises(UserError, match=rf"map\.tsv {message}"):
        read_mapping(path)


def test_missing_columns_name_the_config_key(tmp_path):
    path = table(tmp_path, "Object ID,Culture\n1,Greek\n")
    with pytest.raises(UserError, match=r"export\.csv line 1: no column 'culture' \(config key 'metadata.culture_column'\); did you mean 'Culture'"):
        select(path, image="{Object ID}.jpg")
    with pytest.raises(UserError, match=r"no column 'Object Id' \(config key 'metadata.image'\); did you mean 'Object ID'"):
        select(path, culture_column="Culture", image="{Object Id}.jpg")
    with pytest.raises(UserError, match=r"no column 'Public' \(config key 'metadata.filters.Public'\)"):
        select(path, culture_column="Culture", image="{Object ID}.jpg", filters={"Public": True})


def test_the_met_fixture_gives_every_row_a_reason(tmp_path):
    export = build_met_export(tmp_path)
    study = load_study(None, met_metadata(export), min_images=20)
    report = study.metadata_report
    read = report.loc[report["kind"] == "read", "rows"].item()
    used = report[report["kind"] == "used"].set_index("culture")
    dropped = report[report["kind"] == "dropped"].groupby("reason")["rows"].sum()
    assert read == export.rows == 205
    assert used["rows"].to_dict() == export.used and dropped.to_dict() == export.dropped
    assert used["rows"].sum() + dropped.sum() == read  # every row counted once
    assert used["label"].to_dict() == {c: export.labels[c] for c in export.used}
    assert list(report.loc[report["kind"] == "dropped", "reason"]) == [r for r in REASONS if r in export.dropped]  # in the order they are checked
    below = report[report["reason"] == "below_min_images"].iloc[0]
    assert (below["culture"], below["label"], below["rows"]) == ("chinese_qing_dynasty", "Chinese (Qing dynasty)", 5)
    assert study.cultures == ["greek_attic", "islamic_mamluk", "roman"]
    files = study.source("roman").files
    assert len(files) == 60 and all(f.parent == export.images and f.suffix == ".jpg" for f in files)
    # the same table, the same answer: the culture list is computed twice (DAG, stages) and must agree
    again = load_study(None, met_metadata(export), min_images=20)
    assert again.digest() == study.digest() and np.array_equal(again.selection.reason, study.selection.reason)


def test_an_export_in_another_encoding_is_read_by_its_config_key(tmp_path):
    path = tmp_path / "export.csv"
    path.write_bytes("image,culture\n1.jpg,\u00c9gyptien\n".encode("cp1252"))
    (tmp_path / "1.jpg").write_bytes(b"x")
    with pytest.raises(UserError, match=r"export\.csv line 2, column 'culture': byte 0xc9 .*metadata.encoding"):
        select(path)
    selection = select(path, encoding="cp1252")
    assert outcome(selection) == [("egyptien", "")] and selection.labels == {"egyptien": "\u00c9gyptien"}
