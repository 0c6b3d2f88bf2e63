"""What a museum export of The Met's size costs when Snakemake builds the DAG.

    python benchmarks/bench_metadata.py [--rows 500000] [--reps 3] [--work DIR]

``workflow/rules/common.smk`` computes the culture list from the metadata table at every
``snakemake`` start (and each ingest job again), so it must stay cheap on a real export: The Met's
``MetObjects.csv`` has ~500k rows and 54 columns (~300 MB).  This script writes a table of that shape
(the columns and cell shapes of ``tests/met_export.py``: BOM, quoted commas and newlines, ``|`` lists,
~3000 free-text cultures, heavy-tailed, a third blank; an empty image file for every fifth object) and times, alternately
(A B A B ...) so that load from other processes hits all alike, the median over ``--reps`` of:

- reference: ``pandas.read_csv(path, dtype=str, keep_default_na=False)``, the plain way to read it;
- read: ``ganstyle.io.tables.read_table`` of the four columns the study needs;
- study: ``ganstyle.config.registry.load_study`` (read, filter, ids, image look-ups, min_images), as the
  DAG is built, plus the digest the metadata-report rule takes as a param.

Lines ``speed-up: N.NNx`` give the reference's time over each one's.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))


def write_table(folder: Path, rows: int) -> dict:
    """A Met-shaped table of ``rows`` rows and its images folder under ``folder``; the metadata section for it."""
    from met_export import MET_COLUMNS, _row

    table, images = folder / "MetObjects.csv", folder / "images"
    metadata = {"path": str(table), "culture_column": "Culture", "image": "images/{Object ID}.jpg", "filters": {"Is Public Domain": True}}
    if table.exists():
        return metadata
    images.mkdir(parents=True, exist_ok=True)
    rng = random.Random(0)
    # ~3000 free-text cultures, heavy-tailed as in a real export (a few with thousands of objects,
    # most with a handful), a third of the rows blank, some lists
    cultures = ["Greek, Attic", "Chinese (Qing dynasty)", "Egyptian", "Roman|Greek"] + [f"Culture {k}" for k in range(3000)]
    cumulative = list(itertools.accumulate(1 / (rank + 1) for rank in range(len(cultures))))
    with open(table, "w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.DictWriter(handle, MET_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for index in range(rows):
            object_id = str(index + 1)
            culture = "" if rng.random() < 1 / 3 else rng.choices(cultures, cum_weights=cumulative)[0]
            writer.writerow(_row(object_id, culture, "Greek and Roman Art", "", rng.random() < 0.5, index))
            if index % 5 == 0:
                (images / f"{object_id}.jpg").touch()
    return metadata


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--min-images", type=int, default=40)
    parser.add_argument("--work", type=Path, help="folder for the table (kept and reused); default: a temporary one")
    args = parser.parse_args(argv)

    import pandas as pd

    from ganstyle.config.registry import load_study
    from ganstyle.io.tables import read_header, read_table

    with tempfile.TemporaryDirectory() as temporary:
        folder = args.work or Path(temporary)
        folder.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        metadata = write_table(folder, args.rows)
        print(f"table: {metadata['path']} ({Path(metadata['path']).stat().st_size / 1e6:.0f} MB, written in {time.perf_counter() - started:.0f} s)")

        def reference():
            pd.read_csv(metadata["path"], dtype=str, keep_default_na=False)

        def read():
            read_table(read_header(metadata["path"], "table"), ["Culture", "Object ID", "Is Public Domain"])

        def study():
            load_study(None, metadata, args.min_images).digest()

        runs = {"reference": reference, "read": read, "study": study}
        seconds = {name: [] for name in runs}
        for _ in range(args.reps):
            for name, run in runs.items():
                started = time.perf_counter()
                run()
                seconds[name].append(time.perf_counter() - started)
        summary = load_study(None, metadata, args.min_images)
        print(f"study: {len(summary.cultures)} cultures; {summary.selection.rows} rows")
        median = {name: statistics.median(values) for name, values in seconds.items()}
        for name, value in median.items():
            print(f"{name:>9}: {value:6.2f} s (median of {args.reps}; all: {', '.join(f'{v:.2f}' for v in seconds[name])})")
        for name in ("read", "study"):
            print(f"speed-up: {median['reference'] / median[name]:.2f}x  ({name} against pandas.read_csv of the whole table)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
