"""Results saved as they complete, and resumed: a folder of chunk files beside the output.

While a run goes on, ``OUT`` (``responses.npz`` or ``.parquet``) has a companion folder
``OUT.parts/`` holding ``manifest.json`` (the run's settings and the model's fingerprint) and one
``rows-*.npz`` per completed chunk of samples, each written atomically. Rerunning with the same
output reads the manifest: the same settings continue where the last run stopped (the samples
already there are not solved again); different settings are refused rather than mixed. When
every sample is there, ``OUT`` is written atomically from the chunks and the folder removed.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from qgridlang.atomic import check_writable, write_atomically
from qgridlang.errors import UsageError

FORMATS = (".npz", ".parquet")
META_KEY = "qgridlang"  # parquet schema metadata key / npz array holding the JSON metadata


def check_output(path: Path) -> str:
    """The format of ``path`` (``.npz`` or ``.parquet``); refused before any work starts."""
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise UsageError(f"cannot write '{path}': the data set is written as .npz or .parquet",
                         hint="e.g. -o responses.npz")
    check_writable(path)
    if suffix == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise UsageError("writing .parquet needs pyarrow", hint="pip install pyarrow, or "
                             "write .npz") from None
    return suffix


class ChunkStore:
    """The parts folder of one output file."""

    def __init__(self, output: Path, settings: dict[str, Any]) -> None:
        self.output = Path(output)
        self.folder = self.output.with_name(self.output.name + ".parts")
        self.settings = settings

    def open(self) -> None:
        """Create the folder with its manifest, or check that an existing one matches."""
        manifest = self.folder / "manifest.json"
        if manifest.exists():
            try:
                old = json.loads(manifest.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise UsageError(f"cannot resume from '{self.folder}': its manifest is "
                                 f"unreadable ({exc})", hint=f"remove {self.folder}") from None
            if old != _jsonable(self.settings):
                diff = sorted(k for k in set(old) | set(self.settings)
                              if old.get(k) != _jsonable(self.settings).get(k))
                raise UsageError(f"'{self.folder}' holds a run with other settings "
                                 f"({', '.join(diff)}); it is not mixed with this one",
                                 hint=f"rerun with the same settings to continue it, or "
                                      f"remove {self.folder}, or write another -o")
            return
        self.folder.mkdir(exist_ok=True)
        write_text(manifest, json.dumps(_jsonable(self.settings), indent=1, sort_keys=True))

    def done(self) -> set[int]:
        """Sample indices already saved."""
        out: set[int] = set()
        for f in sorted(self.folder.glob("rows-*.npz")):
            with np.load(f, allow_pickle=False) as z:
                out.update(int(i) for i in z["sample"])
        return out

    def save(self, rows: dict[str, np.ndarray]) -> None:
        first = int(rows["sample"][0])
        name = self.folder / f"rows-{first:09d}-{len(rows['sample']):06d}.npz"
        write_atomically(name, lambda tmp: _savez(tmp, rows))

    def rows(self, wanted: Iterable[int]) -> dict[str, np.ndarray]:
        """Every saved row whose sample is in ``wanted``, ordered by sample."""
        want = set(int(i) for i in wanted)
        parts: list[dict[str, np.ndarray]] = []
        for f in sorted(self.folder.glob("rows-*.npz")):
            with np.load(f, allow_pickle=False) as z:
                keep = np.isin(z["sample"], list(want))
                parts.append({k: z[k][keep] for k in z.files})
        merged = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        order = np.argsort(merged["sample"], kind="stable")
        merged = {k: v[order] for k, v in merged.items()}
        _, first = np.unique(merged["sample"], return_index=True)  # a chunk saved twice
        return {k: v[first] for k, v in merged.items()}

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def _savez(tmp: Path, rows: dict[str, np.ndarray]) -> None:
    # to an open file: np.savez appends .npz to a name that lacks it
    with open(tmp, "wb") as f:
        np.savez(f, **rows)  # type: ignore[arg-type]  # (numpy's stub: the keywords)


def write_text(path: Path, text: str) -> None:
    """``text`` as UTF-8, atomically."""

    def write(tmp: Path) -> None:
        tmp.write_text(text, encoding="utf-8")

    write_atomically(path, write)


def write_dataset(path: Path, rows: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
    """The finished data set, atomically: ``.npz`` arrays or one ``.parquet`` table."""
    text = json.dumps(_jsonable(meta), sort_keys=True)
    if path.suffix.lower() == ".npz":
        arrays = {**rows, META_KEY: np.array(text)}
        write_atomically(path, lambda tmp: _savez(tmp, arrays))
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns: dict[str, Any] = {}
    for k, v in rows.items():
        columns[k] = pa.array(list(v)) if v.ndim == 2 else pa.array(v)
    schema_table = pa.table(columns)
    schema_table = schema_table.replace_schema_metadata({META_KEY: text})
    write_atomically(path, lambda tmp: pq.write_table(schema_table, tmp))


def read_dataset(path: Path) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """A data set written by :func:`write_dataset`: its arrays and its metadata."""
    path = Path(path)
    if path.suffix.lower() == ".npz":
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files if k != META_KEY}
            meta = json.loads(str(z[META_KEY]))
        return arrays, meta
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    meta = json.loads(table.schema.metadata[META_KEY.encode()].decode())
    out: dict[str, np.ndarray] = {}
    for name in table.column_names:
        col = table.column(name).to_pylist()
        out[name] = np.array(col)
    return out, meta


def _jsonable(v: Any) -> Any:
    """Settings as JSON reads them back (tuples as lists, numpy scalars as numbers)."""
    return json.loads(json.dumps(v, default=_default))


def _default(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, Path | os.PathLike):
        return str(v)
    raise TypeError(type(v).__name__)
