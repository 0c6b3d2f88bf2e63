"""A museum export in the shape of The Met's open-access ``MetObjects.csv``, built from the bundled demo images.

The real file (github.com/metmuseum/openaccess) has the 54 columns of ``MET_COLUMNS`` in that order,
starts with a UTF-8 byte-order mark, holds free text in ``Culture`` (often blank), joins lists with
``|`` (constituents, roles, tags), quotes fields with commas and newlines, and names no image:
users fetch each object's image by ``Object ID`` and save it as e.g. ``images/<Object ID>.jpg``.

``build_met_export(root)`` writes ``root/MetObjects.csv`` and ``root/images/<Object ID>.jpg`` (demo
PNGs re-encoded as JPEG; nothing is written under data/) and returns what a reader must make of it:
``MetExport.used`` (culture id -> rows), ``dropped`` (reason -> rows), ``labels`` (id -> label).
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "data" / "demo"

MET_COLUMNS = [
    "Object Number", "Is Highlight", "Is Timeline Work", "Is Public Domain", "Object ID", "Gallery Number",
    "Department", "AccessionYear", "Object Name", "Title", "Culture", "Period", "Dynasty", "Reign", "Portfolio",
    "Constituent ID", "Artist Role", "Artist Prefix", "Artist Display Name", "Artist Display Bio", "Artist Suffix",
    "Artist Alpha Sort", "Artist Nationality", "Artist Begin Date", "Artist End Date", "Artist Gender",
    "Artist ULAN URL", "Artist Wikidata URL", "Object Date", "Object Begin Date", "Object End Date", "Medium",
    "Dimensions", "Credit Line", "Geography Type", "City", "State", "County", "Country", "Region", "Subregion",
    "Locale", "Locus", "Excavation", "River", "Classification", "Rights and Reproduction", "Link Resource",
    "Object Wikidata URL", "Metadata Date", "Repository", "Tags", "Tags AAT URL", "Tags Wikidata URL",
]  # fmt: skip

# free-text Culture value -> (the demo script whose images stand for its objects, its id, department, period)
CULTURES = {
    "Greek, Attic": ("greek", "greek_attic", "Greek and Roman Art", "Classical"),
    "Roman": ("latin", "roman", "Greek and Roman Art", "Imperial"),
    "Islamic (Mamluk)": ("arabic", "islamic_mamluk", "Islamic Art", "Mamluk period"),
}
SMALL = ("Chinese (Qing dynasty)", "thai", "chinese_qing_dynasty")  # too few objects for ingest.min_images
OTHER_SCRIPT = "cyrillic"  # images of the rows that are dropped before their image is looked at


@dataclass
class MetExport:
    table: Path
    images: Path
    used: dict[str, int] = field(default_factory=dict)  # culture id -> rows used
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> rows
    labels: dict[str, str] = field(default_factory=dict)  # culture id -> label

    @property
    def rows(self) -> int:
        return sum(self.used.values()) + sum(self.dropped.values())


def _row(object_id: str, culture: str, department: str, period: str, public: bool, index: int) -> dict:
    row = dict.fromkeys(MET_COLUMNS, "")
    row.update(
        {
            "Object Number": f"{1900 + index % 90}.{index}.{index % 7 + 1}",
            "Is Highlight": "False",
            "Is Timeline Work": "True" if index % 11 == 0 else "False",
            "Is Public Domain": "True" if public else "False",
            "Object ID": object_id,
            "Gallery Number": str(150 + index % 20) if index % 3 else "",
            "Department": department,
            "AccessionYear": str(1890 + index % 120),
            "Object Name": "Inscription fragment",
            # a comma, doubled quotes and a newline inside one quoted field, as in real titles
            "Title": f'Fragment, inscribed "{index}"\nwith a second line' if index % 9 == 0 else f"Fragment of an inscription, no. {index}",
            "Culture": culture,
            "Period": period,
            "Constituent ID": "16389|16390" if index % 4 == 0 else "",
            "Artist Role": "Scribe|Workshop" if index % 4 == 0 else "",
            "Artist Display Name": "Unknown|Workshop of the Scribe" if index % 4 == 0 else "",
            "Object Date": "ca. 5th century B.C." if index % 2 else "",
            "Object Begin Date": str(-500 + index),
            "Object End Date": str(-400 + index),
            "Medium": "Ink on papyrus; gilt",
            "Dimensions": "H. 6.4 cm (2 1/2 in.); W. 6.4 cm (2 1/2 in.)",
            "Credit Line": "Rogers Fund, 1906",
            "Country": "Egypt|Syria" if "Mamluk" in culture else "",
            "Classification": "Papyri",
            "Link Resource": f"http://www.metmuseum.org/art/collection/search/{object_id}",
            "Object Wikidata URL": f"https://www.wikidata.org/wiki/Q{7000000 + index}" if index % 5 == 0 else "",
            "Repository": "Metropolitan Museum of Art, New York, NY",
            "Tags": "Writing|Inscriptions|Animals" if index % 3 == 0 else "",
            "Tags AAT URL": "http://vocab.getty.edu/page/aat/300028702|http://vocab.getty.edu/page/aat/300028702" if index % 3 == 0 else "",
            "Tags Wikidata URL": "https://www.wikidata.org/wiki/Q8192|https://www.wikidata.org/wiki/Q1640824" if index % 3 == 0 else "",
        }
    )
    return row


def build_met_export(root: Path, per_culture: int = 60) -> MetExport:
    """The export and its images under ``root``; ``per_culture`` objects with images for each of CULTURES."""
    images = root / "images"
    images.mkdir(parents=True)
    export = MetExport(root / "MetObjects.csv", images)
    demo = {script: sorted((DEMO / script).glob("*.png")) for script in {s for s, *_ in CULTURES.values()} | {SMALL[1], OTHER_SCRIPT}}
    spare = iter(demo[OTHER_SCRIPT])
    rows: list[tuple[dict, Path | None]] = []  # (row, image to save under its Object ID, or None)

    def add(culture: str, image: Path | None, department="Greek and Roman Art", period="", public=True, object_id=None):
        index = len(rows)
        rows.append((_row(str(436000 + index) if object_id is None else object_id, culture, department, period, public, index), image))

    for text, (script, culture_id, department, period) in CULTURES.items():
        export.used[culture_id], export.labels[culture_id] = per_culture, text
        for k, png in enumerate(demo[script][:per_culture]):
            # two Roman objects name their culture twice in a |-list: still one culture
            add("Roman|Roman" if text == "Roman" and k < 2 else text, png, department, period)
    for png in demo[SMALL[1]][:5]:
        add(SMALL[0], png, "Asian Art", "Qing dynasty (1644–1911)")
    export.dropped["below_min_images"], export.labels[SMALL[2]] = 5, SMALL[0]
    for blank in ("", "", "", "  ", "|", " | "):  # blank, or only separators: no culture
        add(blank, next(spare))
    export.dropped["blank_culture"] = 6
    for _ in range(4):  # attributed to two cultures: evidence for neither
        add("Greek, Attic|Roman", next(spare))
    export.dropped["multiple_cultures"] = 4
    for _ in range(5):  # not public domain: a filter drops them
        add("Roman", next(spare), public=False)
    export.dropped["filtered"] = 5
    add("Roman", None, object_id="")  # no Object ID: no image path
    export.dropped["blank_image"] = 1
    for _ in range(4):  # the user did not fetch these images
        add("Greek, Attic", None)
    export.dropped["image_missing"] = 4

    random.Random(0).shuffle(rows)  # cultures interleave, as in the real file
    with open(export.table, "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, MET_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row, image in rows:
            writer.writerow(row)
            if image is not None:
                Image.open(image).convert("RGB").save(images / f"{row['Object ID']}.jpg", quality=95)
    return export


def met_metadata(export: MetExport, **extra) -> dict:
    """The config's metadata section for the export: the Culture column, images by Object ID, public domain only."""
    return {
        "path": str(export.table),
        "culture_column": "Culture",
        "image": "images/{Object ID}.jpg",
        "filters": {"Is Public Domain": True},
        **extra,
    }
