"""Trained model: a building layer shifted by a constant (dx, dy) on an unseen scene -> align -> error."""
import json, sys
from pathlib import Path
import numpy as np, shapely, rasterio
from worldclass.data.synth.aerial import synth_scenes
from worldclass.data.vector import read_polygons, write_polygons
from worldclass.mapping.align import align_vectors
ckpt = Path(sys.argv[1]); root = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("/tmp/al2/unseen")
if not root.exists(): synth_scenes(root, size=1024, scenes=1, seed=99, style="hard" if "hard" in str(root) else "plain")
geoms, cols, crs = read_polygons(root / "labels.gpkg")
b = geoms[cols["class"] == 1]
with rasterio.open(root / "images" / "scene1.tif") as src: gsd = src.transform.a
rows = []
for dx, dy in [(3.0, -2.0), (-4.0, 1.0), (0.0, 0.0), (5.0, 5.0)]:
    moved = shapely.transform(b, lambda xy: xy + np.array([dx * gsd, -dy * gsd]))
    layer = Path(f"/tmp/mis/shift_{dx}_{dy}.gpkg"); write_polygons(layer, moved, {"class": cols["class"][cols["class"] == 1]}, crs=crs)
    out = Path(f"/tmp/mis/aligned_{dx}_{dy}.gpkg")
    s = align_vectors(ckpt, root / "images" / "scene1.tif", layer, out, device="cpu")
    got = read_polygons(out)[0]
    e = np.linalg.norm(shapely.get_coordinates(got) - shapely.get_coordinates(b), axis=1) / gsd if len(shapely.get_coordinates(got)) == len(shapely.get_coordinates(b)) else None
    ua, ub = shapely.union_all(got), shapely.union_all(b)
    um = shapely.union_all(moved)
    rows.append({"shift_px": [dx, dy], "buildings": len(b), "mean_vertex_error_px": None if e is None else round(float(e.mean()), 3),
                 "median_vertex_error_px": None if e is None else round(float(np.median(e)), 3),
                 "within_1px": None if e is None else round(float((e <= 1).mean()), 3),
                 "iou_before": round(um.intersection(ub).area / um.union(ub).area, 4), "iou_after": round(ua.intersection(ub).area / ua.union(ub).area, 4),
                 "mpx_per_s": s["mpx_per_s"]})
print(json.dumps(rows, indent=1))
