"""One loader per file format; each turns raw bytes into text, segments and a title.

The loaders raise ``FormatError`` with a short reason; ``expertly.ingest.loaders.load_file``
adds the path and raises ``LoadError``.
"""
