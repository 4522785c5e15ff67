"""``python -m worldclass`` = the ``worldclass`` command."""

from worldclass.cli import entry

entry()
