"""File-system helpers every writer shares: atomic writes (temporary name, then rename)."""

from worldclass.io.atomic import (
    atomic_open,
    atomic_path,
    file_sha256,
    write_bytes_atomic,
    write_json_atomic,
    write_text_atomic,
)

__all__ = [
    "atomic_open",
    "atomic_path",
    "file_sha256",
    "write_bytes_atomic",
    "write_json_atomic",
    "write_text_atomic",
]
