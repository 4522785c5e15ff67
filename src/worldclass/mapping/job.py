"""``worldclass map`` as a work manifest: one unit per scene (or per strip of rows of a large scene,
``strip_rows``: :mod:`worldclass.mapping.strips`, assembled by :meth:`MapJob.finalize`), run by any executor.

:meth:`MapJob.prepare` loads the model once, checks every scene (bands, CRS, tiling) before any pixel is
predicted, and writes ``manifest.json`` beside the outputs (the output folder, or ``<map>.manifest.json``
for a single map): the plan digest (checkpoint SHA-256, tiling, options, scenes and their sizes) and one
row per scene with its output. :meth:`MapJob.run_unit` maps one scene in whatever process runs it (the
model is loaded there once); the map and its overviews are written under a temporary name and renamed
when complete (:class:`~worldclass.mapping.writer.MapWriter`). :meth:`MapJob.record` (called by the
executor's driver after a unit succeeded) appends the unit to ``<manifest>.done``; a unit counts as done
when it is recorded under the current plan and its map exists, so an interrupted run, with either
executor, maps only the rest, and a run with other settings starts over.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from worldclass.errors import ConfigError
from worldclass.io import file_sha256, write_json_atomic
from worldclass.mapping.strips import StripSink, assemble, part_path, strip_bounds
from worldclass.mapping.tiling import Grid, check_tiling


@dataclass(frozen=True)
class MapUnit:
    """One scene, or one strip of a large scene: ``id`` (output stem, ``@r<r0>`` for a strip), ``scene``
    path, ``out`` (the map, or the strip's part file), ``hi`` = its tile count; a strip has ``rows``
    (r0, r1) and the scene's ``final`` map path."""

    id: str
    scene: str
    out: str
    lo: int
    hi: int
    rows: tuple[int, int] | None = None
    final: str = ""


class MapJob:
    def __init__(
        self,
        checkpoint: str | Path,
        scenes: Sequence[str | Path],
        out: str | Path,
        *,
        tile: int = 512,
        overlap: int = 64,
        blend: str = "hann",
        batch_size: int = 8,
        probabilities: bool = False,
        band_indexes: Sequence[int] | None = None,
        device: str = "auto",
        pixel_grid: bool = False,
        compile: bool = False,
        strip_rows: int = 0,
    ) -> None:
        self.compile, self.strip_rows = compile, strip_rows
        self.checkpoint, self.scenes, self.out = Path(checkpoint), [Path(s) for s in scenes], Path(out)
        self.tile, self.overlap, self.blend, self.batch_size = tile, overlap, blend, batch_size
        self.probabilities, self.device, self.pixel_grid = probabilities, device, pixel_grid
        self.band_indexes = list(band_indexes) if band_indexes else None
        self._predictor: Any = None
        self._units: list[MapUnit] = []
        self.digest = ""

    def __getstate__(self) -> dict[str, Any]:  # to executor processes: settings and units, no model
        return {**self.__dict__, "_predictor": None}

    def predictor(self) -> Any:
        if self._predictor is None:
            from worldclass.mapping.predictor import load_predictor

            self._predictor = load_predictor(self.checkpoint, device=self.device, compile=self.compile)
        return self._predictor

    @property
    def manifest(self) -> Path:
        single = self.out.suffix.lower() in (".tif", ".tiff")
        return self.out.with_suffix(".manifest.json") if single else self.out / "manifest.json"

    def prepare(self) -> list[MapUnit]:
        """Check the scenes and write the manifest; returns the units still to do."""
        from worldclass.mapping.whole_scene import inspect_scene, scene_paths

        check_tiling(self.tile, self.overlap, self.blend)
        if self.batch_size < 1:
            raise ConfigError(f"--batch-size {self.batch_size}: use at least 1 tile per forward pass")
        predictor = self.predictor()
        paths = scene_paths(self.scenes)
        infos = [inspect_scene(p, predictor, self.band_indexes, need_crs=not self.pixel_grid) for p in paths]
        single = len(infos) == 1 and self.out.suffix.lower() in (".tif", ".tiff")
        if not single and self.out.suffix.lower() in (".tif", ".tiff"):
            raise ConfigError(f"--out {self.out}: {len(infos)} scenes need an output folder, not a .tif file")
        stems = [i.path.stem for i in infos]
        if len(set(stems)) < len(stems):
            raise ConfigError(
                f"{len(stems) - len(set(stems))} scenes share a file name: their maps would collide"
            )
        if self.strip_rows and (self.probabilities or predictor.has_field):
            raise ConfigError(
                "--strip-rows writes class maps only: drop --probabilities (or map a model without a frame-field head)"
            )
        if self.strip_rows and self.strip_rows < self.tile:
            raise ConfigError(
                f"--strip-rows {self.strip_rows}: use at least one tile ({self.tile} px), or 0 for whole scenes"
            )
        self._units = []
        for i in infos:
            final = self.out if single else self.out / f"{i.path.stem}.tif"
            if not self.strip_rows or i.height <= self.strip_rows:
                tiles = len(Grid(i.height, i.width, self.tile, self.overlap, self.blend))
                self._units.append(MapUnit(i.path.stem, str(i.path), str(final), 0, tiles))
                continue
            for r0, r1 in strip_bounds(i.height, self.strip_rows):
                a, b = self._context(r0, r1, i.height)
                tiles = len(Grid(b - a, i.width, self.tile, self.overlap, self.blend))
                part = part_path(final, r0)
                self._units.append(
                    MapUnit(f"{i.path.stem}@r{r0}", str(i.path), str(part), 0, tiles, (r0, r1), str(final))
                )
        h = hashlib.blake2b(digest_size=16)
        settings = [
            self.strip_rows,
            self.tile,
            self.overlap,
            self.blend,
            self.probabilities,
            self.band_indexes,
            self.pixel_grid,
        ]
        h.update(json.dumps([file_sha256(self.checkpoint), settings]).encode())
        for i in infos:
            h.update(f"{i.path.resolve()}|{i.height}|{i.width}|{i.path.stat().st_mtime_ns}".encode())
        self.digest = h.hexdigest()
        self.manifest.parent.mkdir(parents=True, exist_ok=True)
        try:
            old = json.loads(self.manifest.read_text()) if self.manifest.is_file() else {}
        except ValueError:  # a damaged manifest: start over rather than trust it
            old = {}
        if old.get("plan") != self.digest:
            Path(str(self.manifest) + ".done").unlink(missing_ok=True)
        units = [{"id": u.id, "scene": u.scene, "out": u.out, "tiles": u.hi} for u in self._units]
        write_json_atomic(self.manifest, {"plan": self.digest, "units": units})
        recorded = self._recorded()
        return [u for u in self._units if not self._done(u, recorded)]

    def _done(self, unit: MapUnit, recorded: set[str]) -> bool:
        """Recorded under this plan, and its output there (a strip: its part, or the assembled map)."""
        return unit.id in recorded and (
            Path(unit.out).is_file() or (bool(unit.final) and Path(unit.final).is_file())
        )

    def _context(self, r0: int, r1: int, height: int) -> tuple[int, int]:
        """Rows a strip is predicted from: at least one tile of context on each side, starting on the
        whole scene's tile grid, so its rows get the very tiles and blend weights of an unsplit run."""
        stride = self.tile - self.overlap
        return max(0, (r0 - self.tile) // stride * stride), min(height, r1 + self.tile)

    def units(self) -> list[MapUnit]:
        return list(self._units)

    def _recorded(self) -> set[str]:
        f = Path(str(self.manifest) + ".done")
        if not f.is_file():
            return set()
        return {
            line.split("\t")[1] for line in f.read_text().splitlines() if line.startswith(self.digest + "\t")
        }

    def done(self, unit: MapUnit) -> bool:
        return self._done(unit, self._recorded())

    def record(self, unit: MapUnit, result: object = None) -> None:
        """Append ``unit`` to the done log (fsynced): its map is complete."""
        with open(str(self.manifest) + ".done", "a", encoding="utf-8") as fh:
            fh.write(f"{self.digest}\t{unit.id}\n")
            fh.flush()
            os.fsync(fh.fileno())

    def run_unit(self, unit: MapUnit) -> int:
        """Map one scene to its COG, or one strip to its part (complete or not at all); returns its tiles."""
        from worldclass.mapping.whole_scene import inspect_scene, map_scenes, predict_scene

        if unit.rows is not None:
            predictor = self.predictor()
            info = inspect_scene(Path(unit.scene), predictor, self.band_indexes, need_crs=not self.pixel_grid)
            r0, r1 = unit.rows
            with StripSink(Path(unit.out), info.profile, r0, r1, len(predictor.classes)) as sink:
                predict_scene(
                    predictor,
                    info,
                    sink,
                    tile=self.tile,
                    overlap=self.overlap,
                    blend=self.blend,
                    batch_size=self.batch_size,
                    rows=self._context(r0, r1, info.height),
                )
            return unit.hi - unit.lo

        map_scenes(
            self.predictor(),
            [unit.scene],
            unit.out,
            tile=self.tile,
            overlap=self.overlap,
            blend=self.blend,
            batch_size=self.batch_size,
            probabilities=self.probabilities,
            band_indexes=self.band_indexes,
            pixel_grid=self.pixel_grid,
        )
        return unit.hi - unit.lo

    def finalize(self) -> list[str]:
        """Assemble every split scene whose strips are all done into its map (once); returns those maps."""
        import rasterio

        from worldclass.mapping.whole_scene import map_tags

        recorded = self._recorded()
        by_scene: dict[str, list[MapUnit]] = {}
        for u in self._units:
            if u.rows is not None:
                by_scene.setdefault(u.final, []).append(u)
        made = []
        predictor = self.predictor()
        for final, units in by_scene.items():
            if not all(u.id in recorded and Path(u.out).is_file() for u in units):
                continue  # already assembled (parts gone) or not finished
            scene = Path(units[0].scene)
            with rasterio.open(scene) as src:
                profile = dict(src.profile)
            tags = map_tags(scene.name, profile, self.tile, self.overlap, self.blend)
            tags["strip_rows"] = str(self.strip_rows)
            bounds = [u.rows for u in units if u.rows is not None]
            assemble(Path(final), bounds, profile, predictor.classes, tags, predictor.colours)
            made.append(final)
        return made
