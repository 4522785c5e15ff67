"""Detect what kind of BigEarthNet source a path is and open it."""

from __future__ import annotations

from pathlib import Path

from worldclass.data.bigearthnet import naming
from worldclass.data.bigearthnet.sources import RicoSource, Source, V1Source, V2Source
from worldclass.errors import ConfigError, MissingFileError


def open_source(root: Path | str, *, metadata: Path | str | None = None) -> Source:
    """Open ``root`` as a worldclass store, an official v2 root, an official v1 root or a rico-hdl LMDB.

    ``metadata`` (rico-hdl only): path to reBEN ``metadata.parquet`` if not next to the LMDB.
    """
    from worldclass.data.store import StoreSource, is_store

    root = Path(root)
    if not root.exists():
        raise MissingFileError(f"{root}: does not exist; give the folder of an archive or a worldclass store")
    if (root / "data.mdb").is_file():
        if is_store(root):
            return StoreSource(root)
        from worldclass.data.triplet_store import is_triplet_store

        if is_triplet_store(root):
            raise ConfigError(
                f"{root}: a SEN12MS/DFC2020 triplet store, not BigEarthNet; use it as data.root with "
                "data.dataset=sen12ms or dfc2020"
            )
        return RicoSource(root, Path(metadata) if metadata else None)
    if (root / naming.V2_METADATA).is_file() and any(
        (root / d).is_dir() for d in (naming.V2_S2_DIR, naming.V2_S1_DIR)
    ):
        return V2Source(root)
    if any((root / d).is_dir() for d in (naming.V1_S2_DIR, naming.V1_S1_DIR)):
        return V1Source(root)
    if any((root / d).is_dir() for d in (naming.V2_S2_DIR, naming.V2_S1_DIR)):
        raise MissingFileError(
            f"{root}: v2 archive without {naming.V2_METADATA}; download it next to the folders"
        )
    raise MissingFileError(
        f"{root}: not a BigEarthNet root; expected {naming.V2_METADATA} + {naming.V2_S2_DIR}/ (v2), "
        f"{naming.V1_S2_DIR}/ (v1), a rico-hdl LMDB or a worldclass store"
    )
