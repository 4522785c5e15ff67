"""Keep libtiff's own console output out of the way: GDAL receives every libtiff error through its
handler and rasterio raises it, so libtiff's default handlers only duplicate it on stderr
("_tiffWriteProc: File too large." before the one line that explains a full disk); and GDAL write
failures turned into that one line (:func:`gdal_writes`)."""

from __future__ import annotations

import contextlib
import ctypes
import functools
from collections.abc import Iterator
from pathlib import Path


@functools.cache
def quiet_libtiff() -> None:
    """Unset libtiff's default error and warning printers (the libtiff bundled with rasterio's GDAL)."""
    import rasterio  # loads GDAL, hence libtiff and the libraries it needs

    for lib in sorted((Path(rasterio.__file__).parent.parent / "rasterio.libs").glob("libtiff*.so*")):
        try:
            tiff = ctypes.CDLL(str(lib))
        except OSError:
            continue
        for name in ("TIFFSetErrorHandler", "TIFFSetWarningHandler"):
            setter = getattr(tiff, name, None)
            if setter is not None:
                setter.restype, setter.argtypes = ctypes.c_void_p, [ctypes.c_void_p]
                setter(None)


@contextlib.contextmanager
def gdal_writes(out: str | Path, what: str, unchanged: str) -> Iterator[None]:
    """GDAL write failures in the block (full disk, permissions) as one :class:`OutputError` naming ``out``
    (``what``: "map", "submission"; ``unchanged``: what the user still has)."""
    from rasterio._err import CPLE_BaseError
    from rasterio.errors import RasterioError

    from worldclass.errors import OutputError

    try:
        yield
    except (RasterioError, CPLE_BaseError) as exc:
        text = " ".join(str(exc).replace("See previous exception for details.", "").split())[:200]
        text = text.rstrip(".") or "write failed"
        fix = "free space" if "space" in text.lower() else "check free space and permissions"
        raise OutputError(
            f"{out}: cannot write the {what} ({text}); {fix} or choose another --out ({unchanged})"
        ) from None
