"""The stores a figure reads, opened once and shared by every builder of a run."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import xarray as xr

from nnvalues.errors import StoreError
from nnvalues.figures.output import Skip


@dataclass
class Sources:
    cube: Path | None = None
    results: Path | None = None
    evidence_csv: Path | None = None
    """The results store's evidence table as `nnvalues report --csv` wrote it (optional)."""
    model: str | None = None
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    def evidence(self) -> pd.DataFrame:
        """The evidence table (one row per cell x metric) of the results store."""
        if "evidence" not in self._cache:
            if self.evidence_csv is not None and Path(self.evidence_csv).is_file():
                table = pd.read_csv(self.evidence_csv, keep_default_na=False, na_values=[""])
            else:
                from nnvalues.evaluate.evidence import evidence_table

                table = evidence_table(self._results_path())
            if self.model is not None:
                table = table[table["model"] == self.model]
            if table.empty:
                raise Skip(f"{self.results} holds no results of {self.model}")
            self._cache["evidence"] = table
        return self._cache["evidence"]

    def _results_path(self) -> Path:
        if self.results is None or not Path(self.results).exists():
            raise StoreError(f"no results store at {self.results}: run `nnvalues evaluate` first")
        return Path(self.results)

    def results_store(self):
        from nnvalues.evaluate.store import ResultsStore

        return ResultsStore.open(self._results_path())

    def open_cube(self) -> xr.Dataset:
        """The cube of one model (the first, unless `model` names another)."""
        if "cube" not in self._cache:
            import nnvalues

            if self.cube is None or not Path(self.cube).exists():
                raise StoreError(f"no activation cube at {self.cube}: run `nnvalues locate` first")
            cube = nnvalues.open_cube(self.cube, models=[self.model] if self.model else None)
            model = self.model or str(cube["model"].values[0])
            self._cache["cube"] = cube.sel(model=model).dropna("neuron", how="all").dropna("layer", how="all")
        return self._cache["cube"]

    def cube_caption(self, what: str) -> str:
        cube = self.open_cube()
        pairs = ", ".join(f"{int(p)}" for p in cube["pairs"].values)
        return (f"cube {self.cube} · model {cube['model'].values} · {what} · "
                f"{pairs} prompt pairs per dimension")

    def results_caption(self, what: str, rows: pd.DataFrame) -> str:
        models = ", ".join(sorted(set(rows["model"]))) or "-"
        units = f"n = {int(rows['n'].min())}-{int(rows['n'].max())}" if len(rows) else "n = 0"
        return f"results {self.results} · model {models} · {what} · 95% bootstrap CI, {units} per cell"
