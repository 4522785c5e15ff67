"""Keep libtiff's own console output out of the way: GDAL receives every libtiff error through its
handler and rasterio raises it, so libtiff's default handlers only duplicate it on stderr
("_tiffWriteProc: File too large." before the one line that explains a full disk)."""

from __future__ import annotations

import ctypes
import functools
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
