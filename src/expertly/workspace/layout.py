"""Where a workspace keeps things: its directory, settings file, index file and models.

A workspace is a directory (default ``./.expertly``) holding ``expertly.toml``, the
index, the embedding cache and converted models. These places follow from the root and
the settings alone, never from a built part, so asking for them loads nothing;
``Workspace`` builds its parts in them.
"""

from __future__ import annotations

from pathlib import Path

from expertly.config import CONFIG_FILE, Settings, default_config_text


class Layout:
    """The places of the workspace at ``root`` with ``settings`` (``Workspace`` sets both)."""

    root: Path
    settings: Settings

    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_FILE

    @property
    def index_path(self) -> Path:
        return self.root / self.settings.store.path

    @property
    def has_index(self) -> bool:
        """Whether an index may exist to read, found without creating one: the index file
        of the file store; a database store (``store.backend = postgres``) is asked."""
        if self.settings.store.backend == "sqlite":
            return self.index_path.exists()
        return True

    @property
    def models_dir(self) -> Path:
        configured = self.settings.llm.cache_dir
        return Path(configured).expanduser() if configured else self.root / "models"

    @property
    def exists(self) -> bool:
        return self.root.is_dir()

    def init(self, *, overwrite: bool = False) -> Path:
        """Create the directory and a commented ``expertly.toml`` holding every default."""
        self.root.mkdir(parents=True, exist_ok=True)
        if self.config_path.exists() and not overwrite:
            return self.config_path
        self.config_path.write_text(default_config_text(), encoding="utf-8")
        return self.config_path
