"""Retrieval commands: embed, index build/add/info, search, retrieval-eval, serve."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from worldclass.cli.app import app
from worldclass.cli.options import Address, Executor, RayWorkers
from worldclass.cli.progress import progress_bar

index_app = typer.Typer(help="Build, update and inspect retrieval indexes (faiss).", no_args_is_help=True)
app.add_typer(index_app, name="index")


@app.command(
    epilog="Example: worldclass embed runs/csmae/checkpoints/best.ckpt /data/reben.store --out emb/csmae"
)
def embed(
    checkpoint: Annotated[
        Path, typer.Argument(help="Classification, segmentation or self-supervised checkpoint.")
    ],
    data: Annotated[Path, typer.Argument(help="Archive/store (BigEarthNet) or scenes root (segmentation).")],
    out: Annotated[Path, typer.Option(help="Embedding folder to create or resume.")],
    sensor: Annotated[
        list[str] | None, typer.Option(help="Row sensors to embed (default: all the model offers).")
    ] = None,
    layer: Annotated[
        str, typer.Option(help="auto, features/scores (classifier), projection/pooled (ssl).")
    ] = "auto",
    batch_size: Annotated[int, typer.Option(help="Patches per forward pass.")] = 64,
    workers: Annotated[int, typer.Option(help="DataLoader workers.")] = 0,
    window: Annotated[int | None, typer.Option(help="Segmentation: window side in px.")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda.")] = "auto",
    overwrite: Annotated[bool, typer.Option(help="Replace embeddings of another model/data in OUT.")] = False,
    executor: Executor = "local",
    address: Address = None,
    ray_workers: RayWorkers = 2,
    chunk: Annotated[int, typer.Option(help="Patches per work unit (manifest row).")] = 2048,
) -> None:
    """Embed every patch of an archive (all splits) into an embedding set; resumable, also across executors."""
    from worldclass.retrieval.embed_archive import EmbedJob
    from worldclass.retrieval.embeddings import Embeddings
    from worldclass.training.executors import run_units

    job = EmbedJob(
        checkpoint,
        data,
        out,
        sensors=sensor,
        layer=layer,
        batch_size=batch_size,
        workers=workers,
        chunk=chunk,
        window=window,
        device=device,
    )
    todo = job.prepare(overwrite)
    with progress_bar("embedding") as update:
        run_units(
            job,
            todo,
            executor=executor,
            address=address,
            workers=ray_workers,
            gpus_per_worker=1.0 if job.encoder().device.type == "cuda" else 0.0,
            progress=update,
        )
        path = job.finalize()
    emb = Embeddings.open(path)
    typer.echo(
        json.dumps(
            {"embeddings": str(path), "rows": len(emb), "dim": emb.dim, "sensors": emb.info["sensors"]}
        )
    )


@index_app.command(
    "build", epilog="Example: worldclass index build emb/csmae --kind hnsw --sensor s2 --out idx/s2"
)
def index_build(
    embeddings: Annotated[Path, typer.Argument(help="Embedding folder (worldclass embed).")],
    out: Annotated[Path, typer.Option(help="Index folder (replaced only when the new one is complete).")],
    kind: Annotated[
        str, typer.Option(help="flat (exact), hnsw, ivfpq, ivfsq (8-bit, compact) or binary (hash codes).")
    ] = "hnsw",
    sensor: Annotated[str | None, typer.Option(help="Only rows of this sensor (s2, s1, s2+s1).")] = None,
    split: Annotated[str | None, typer.Option(help="Only rows of this split.")] = None,
    hnsw_m: Annotated[int, typer.Option(help="HNSW graph degree.")] = 32,
    ef_construction: Annotated[int, typer.Option(help="HNSW build beam.")] = 80,
    ef_search: Annotated[int, typer.Option(help="HNSW search beam (default of the index).")] = 64,
    nlist: Annotated[int, typer.Option(help="IVF lists (0: 4*sqrt(N)).")] = 0,
    pq_m: Annotated[int, typer.Option(help="PQ sub-quantisers (0: auto, must divide dim).")] = 0,
    nprobe: Annotated[int, typer.Option(help="IVF lists visited per query.")] = 16,
    refine: Annotated[bool, typer.Option(help="IVF-PQ: re-rank candidates with exact vectors.")] = False,
    bits: Annotated[int, typer.Option(help="Binary: code length in bits (multiple of 8).")] = 64,
    hash_supervision: Annotated[
        str, typer.Option(help="Binary: embedding (unsupervised) or labels.")
    ] = "embedding",
) -> None:
    """Build a faiss index over an embedding set (cosine similarity, or Hamming for binary codes)."""
    from worldclass.retrieval.index import IndexParams, build_index

    params = IndexParams(
        hnsw_m=hnsw_m,
        ef_construction=ef_construction,
        ef_search=ef_search,
        nlist=nlist,
        pq_m=pq_m,
        nprobe=nprobe,
        refine=refine,
        bits=bits,
        hash_supervision=hash_supervision,
    )
    with progress_bar("indexing") as update:
        index = build_index(embeddings, out, kind, sensor=sensor, split=split, params=params, progress=update)
    typer.echo(
        json.dumps(
            {"index": str(out), "kind": kind, "n": len(index), "build_seconds": index.info["build_seconds"]}
        )
    )


@index_app.command("add", epilog="Example: worldclass index add idx/s2 emb/new-patches")
def index_add(
    index: Annotated[Path, typer.Argument(help="Existing index folder.")],
    embeddings: Annotated[Path, typer.Argument(help="Embedding set of the same model with new patches.")],
) -> None:
    """Add the rows of another embedding set that the index does not hold yet (keeps all existing rows)."""
    from worldclass.retrieval.index import add_to_index

    with progress_bar("adding") as update:
        added = add_to_index(index, embeddings, progress=update)
    typer.echo(json.dumps({"index": str(index), "added": added}))


@index_app.command("info", epilog="Example: worldclass index info idx/s2")
def index_info(index: Annotated[Path, typer.Argument(help="Index folder.")]) -> None:
    """Summary of an index; checks that it still matches its embeddings (non-zero exit when stale)."""
    from worldclass.retrieval.index import RetrievalIndex

    idx = RetrievalIndex.open(index)
    for i in range(len(idx.info["sources"])):
        idx.source(i)
    keys = ("kind", "dim", "n", "metric", "filter", "sources", "params", "build_seconds")
    typer.echo(json.dumps({k: idx.info.get(k) for k in keys} | {"consistent": True}, indent=1))


@app.command(
    epilog="Example: worldclass search idx/s2 --id S2A_MSIL2A_20170613T101031_N9999_R022_T33UUP_26_57 -k 10"
)
def search(
    index: Annotated[
        Path, typer.Argument(help="Index folder, or a compressed archive (searched by its codes).")
    ],
    id_: Annotated[str | None, typer.Option("--id", help="Stored patch id (no recomputation).")] = None,
    image: Annotated[
        list[Path] | None, typer.Option(help="Band files of one patch, or one multi-band GeoTIFF.")
    ] = None,
    k: Annotated[int, typer.Option("-k", help="Number of results.")] = 10,
    sensor: Annotated[
        str | None, typer.Option(help="Query sensor (e.g. s1 to search an S2 index by S1).")
    ] = None,
    checkpoint: Annotated[Path | None, typer.Option(help="Model for --image (default: the index's).")] = None,
    ef_search: Annotated[int | None, typer.Option(help="HNSW search beam for this query.")] = None,
    nprobe: Annotated[int | None, typer.Option(help="IVF lists to visit for this query.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """Top-k most similar patches: ranked ids, scores and labels."""
    from worldclass.errors import ConfigError
    from worldclass.retrieval.archive import Archive, CodeIndex, is_archive
    from worldclass.retrieval.service import SearchService

    if (id_ is None) == (not image):
        raise ConfigError("give exactly one of --id PATCH_ID or --image FILE...")
    if is_archive(index):  # a compressed archive: Hamming search on its codes, nothing decoded
        if id_ is None:
            raise ConfigError(f"{index}: a compressed archive is searched by stored patch: use --id")
        result = CodeIndex(Archive(index)).by_id(id_, k)
    else:
        service = SearchService(index, checkpoint=checkpoint)
        service.index.set_search_params(ef_search=ef_search, nprobe=nprobe)
        result = (
            service.by_id(id_, sensor=sensor, k=k)
            if id_
            else service.by_image(image or [], sensor=sensor, k=k)
        )
    if as_json:
        typer.echo(json.dumps(result, indent=1))
        return
    from worldclass.cli.tables import print_table

    rows = [
        [h["rank"], h["patch_id"], h["sensor"], f"{h['score']:.4f}", "; ".join(h["labels"])]
        for h in result["results"]
    ]
    title = f"top {k} for {result['query'].get('patch_id') or ', '.join(result['query']['files'])}"
    print_table(["rank", "patch_id", "sensor", "score", "labels"], rows, title)


@app.command(
    "retrieval-eval",
    epilog="Example: worldclass retrieval-eval emb/csmae emb/supervised --out eval/retrieval",
)
def retrieval_eval(
    embeddings: Annotated[
        list[Path], typer.Argument(help="One or more embedding sets (or compressed archives) to compare.")
    ],
    k: Annotated[int, typer.Option("-k", help="Results per query.")] = 10,
    kind: Annotated[
        str, typer.Option(help="Index kind for the archive (flat = exact, as in the papers).")
    ] = "flat",
    query_split: Annotated[
        str, typer.Option(help="Queries (BigEarthNet protocol: validation).")
    ] = "validation",
    archive_split: Annotated[str, typer.Option(help="Archive (BigEarthNet protocol: test).")] = "test",
    out: Annotated[Path | None, typer.Option(help="Folder for metrics.json and results.csv.")] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the metrics as JSON instead of a table.")
    ] = False,
) -> None:
    """Retrieval metrics (P/R/F1@k, mAP@k, weighted mAP@k) for every sensor direction of each set."""
    from worldclass.cli.tables import print_table
    from worldclass.retrieval.archive import archive_retrieval_eval, is_archive
    from worldclass.retrieval.evaluate import results_table
    from worldclass.retrieval.evaluate import retrieval_eval as run

    named = {}
    for e in embeddings:
        name = e.name if e.name not in named else str(e)
        if is_archive(e):  # a compressed archive: its hash codes, nothing decoded
            named[name] = archive_retrieval_eval(e, k=k, query_split=query_split, archive_split=archive_split)
        else:
            named[name] = run(e, k=k, kind=kind, query_split=query_split, archive_split=archive_split)
    header, rows = results_table(named)
    if as_json:
        typer.echo(json.dumps(named, indent=1))
    else:
        print_table(header, rows)
    if out is not None:
        import csv

        from worldclass.io import atomic_open, write_json_atomic

        with atomic_open(out / "results.csv", "w", newline="") as f:
            csv.writer(f).writerows([header, *rows])
        write_json_atomic(out / "metrics.json", named)


@app.command(epilog="Example: worldclass serve idx/s2 --port 8765  (then open http://127.0.0.1:8765/)")
def serve(
    index: Annotated[Path, typer.Argument(help="Index folder.")],
    host: Annotated[str, typer.Option(help="Address to bind (local only by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8765,
    data: Annotated[
        Path | None, typer.Option(help="Archive for previews (default: the embedded data).")
    ] = None,
    checkpoint: Annotated[Path | None, typer.Option(help="Model for uploads (default: the index's).")] = None,
) -> None:
    """A local web page: pick or upload a patch, see the top-k as RGB previews with labels."""
    from worldclass.retrieval.server import make_server
    from worldclass.retrieval.service import SearchService

    server = make_server(SearchService(index, checkpoint=checkpoint, data=data), host, port)
    typer.echo(f"serving {index} at http://{host}:{server.server_address[1]}/  (Ctrl-C to stop)")
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        server.server_close()
