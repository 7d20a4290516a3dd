"""Import speed: `ftui import` against `sqlite-utils insert --nl` on the same JSONL file, or, with
`--db postgresql://...`, against `psql \\copy` loading the same rows (already converted to ftui's
columns, as CSV) into the same table.

Both run as command-line programs on a fresh database, alternated, best of R rounds each.
ftui also validates every record, normalizes it, computes its content hash and skips duplicates;
psql only loads. On PostgreSQL every round gets two new databases on that server (dropped after).

    python tests/benchmarks/bench_import.py [--rows 200000] [--rounds 2]
    python tests/benchmarks/bench_import.py --db postgresql://USER@HOST:PORT/DB [--rows 200000]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from synth import write_jsonl  # noqa: E402


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--db", help="a PostgreSQL server URL: compare with psql \\copy there")
    args = ap.parse_args()
    if args.db:
        postgres(args)
        return
    bindir = Path(sys.executable).parent
    sqlite_utils = shutil.which("sqlite-utils", path=str(bindir)) or shutil.which("sqlite-utils")
    if not sqlite_utils:
        sys.exit("sqlite-utils is not installed: pip install -e '.[bench]'")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = write_jsonl(tmp / "interactions.jsonl", args.rows)
        size_mb = data.stat().st_size / 1e6
        best = {"ftui": float("inf"), "sqlite-utils": float("inf")}
        for r in range(args.rounds):
            for name in ("sqlite-utils", "ftui") if r % 2 == 0 else ("ftui", "sqlite-utils"):
                db = tmp / f"{name}-{r}.db"
                cmd = ([sqlite_utils, "insert", str(db), "interactions", str(data), "--nl"]
                       if name == "sqlite-utils"
                       else [str(bindir / "ftui"), "--db", str(db), "import", str(data), "--json"])
                best[name] = min(best[name], timed(cmd))
    rates = {k: args.rows / v for k, v in best.items()}
    ratio = rates["ftui"] / rates["sqlite-utils"]
    print(f"{args.rows:,} interactions, {size_mb:.0f} MB JSONL, best of {args.rounds}")
    print(f"{'tool':<14}{'seconds':>10}{'rows/s':>12}")
    for name in ("sqlite-utils", "ftui"):
        print(f"{name:<14}{best[name]:>10.2f}{rates[name]:>12,.0f}")
    print(f"ratio ftui / sqlite-utils: {ratio:.2f}x (target >= 1.0x)")
    print(json.dumps({"bench": "import", "rows": args.rows, "ftui_rows_per_s": round(rates["ftui"]),
                      "sqlite_utils_rows_per_s": round(rates["sqlite-utils"]),
                      "ratio": round(ratio, 3), "target": 1.0, "pass": ratio >= 1.0}))


def _csv_of_rows(jsonl: Path, out: Path) -> list[str]:
    """The rows ftui would store for `jsonl`, as CSV for psql (made before the clock starts)."""
    from ftui.ingest.importer import _Converter, _SqliteWriter
    from ftui.store import utcnow

    convert = _Converter("openai", "standard", f"import:{jsonl.name}", utcnow())
    columns = list(_SqliteWriter._COLUMNS)
    def field(value) -> str:  # PostgreSQL's CSV: unquoted empty is NULL, "" is ''
        if value is None:
            return ""
        if isinstance(value, int | float):
            return str(value)
        return '"' + str(value).replace('"', '""') + '"'

    with jsonl.open(encoding="utf-8") as src, out.open("w", encoding="utf-8") as dst:
        for line in src:
            row = convert(json.loads(line))
            dst.write(",".join(field(row[c]) for c in columns) + "\n")
    return columns


def postgres(args) -> None:
    import psycopg
    from sqlalchemy.engine import make_url

    from ftui.store import open_store

    psql = shutil.which("psql")
    if not psql:
        sys.exit("psql is not installed: apt-get install postgresql-client")
    server = make_url(args.db).set(drivername="postgresql")
    admin = psycopg.connect(server.render_as_string(hide_password=False), autocommit=True)
    bindir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = write_jsonl(tmp / "interactions.jsonl", args.rows)
        size_mb = data.stat().st_size / 1e6
        columns = _csv_of_rows(data, tmp / "rows.csv")
        best = {"ftui": float("inf"), "psql-copy": float("inf")}
        counts = {}
        for r in range(args.rounds):
            for name in ("psql-copy", "ftui") if r % 2 == 0 else ("ftui", "psql-copy"):
                db = f"ftui_bench_{name.replace('-', '_')}_{r}"
                admin.execute(f"DROP DATABASE IF EXISTS {db}")
                admin.execute(f"CREATE DATABASE {db}")
                url = server.set(database=db)
                open_store(url.set(drivername="postgresql+psycopg").render_as_string(
                    hide_password=False)).close()  # ftui's schema and indexes, both sides
                plain = url.render_as_string(hide_password=False)
                cmd = ([psql, plain, "-v", "ON_ERROR_STOP=1", "-c",
                        f"\\copy interaction ({', '.join(columns)}) FROM '{tmp / 'rows.csv'}' "
                        "WITH (FORMAT csv)"]
                       if name == "psql-copy" else
                       [str(bindir / "ftui"), "--db",
                        url.set(drivername="postgresql+psycopg").render_as_string(
                            hide_password=False), "import", str(data), "--json"])
                best[name] = min(best[name], timed(cmd))
                with psycopg.connect(plain) as conn:
                    counts[name] = conn.execute("SELECT count(*) FROM interaction").fetchone()[0]
                admin.execute(f"DROP DATABASE {db}")
    admin.close()
    if counts["ftui"] != args.rows or counts["psql-copy"] != args.rows:
        sys.exit(f"wrong counts: {counts} (expected {args.rows} each)")
    rates = {k: args.rows / v for k, v in best.items()}
    ratio = rates["ftui"] / rates["psql-copy"]
    print(f"{args.rows:,} interactions, {size_mb:.0f} MB JSONL, PostgreSQL, best of {args.rounds}")
    print(f"{'tool':<14}{'seconds':>10}{'rows/s':>12}")
    for name in ("psql-copy", "ftui"):
        print(f"{name:<14}{best[name]:>10.2f}{rates[name]:>12,.0f}")
    print(f"ratio ftui / psql \\copy: {ratio:.2f}x (target >= 0.5x)")
    print(json.dumps({"bench": "import", "backend": "postgresql", "rows": args.rows,
                      "ftui_rows_per_s": round(rates["ftui"]),
                      "psql_copy_rows_per_s": round(rates["psql-copy"]),
                      "ratio": round(ratio, 3), "target": 0.5, "pass": ratio >= 0.5}))


if __name__ == "__main__":
    main()
