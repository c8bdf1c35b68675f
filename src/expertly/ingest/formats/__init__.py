"""One loader per file format; each turns raw bytes into text, segments and a title.

The loaders raise ``FormatError`` with a short reason; ``expertly.ingest.loaders.load_file``
adds the path and raises ``LoadError``.
"""

from expertly.ingest.formats._build import describe_exception

__all__ = ["describe_exception"]
