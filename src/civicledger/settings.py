"""Settings for the CLI and the server, from options or ``CIVIC_*`` environment variables.

The embedded default is a SQLite file under ``./civic-data``; ``--db`` (or ``CIVIC_DB``) takes a
path or a URL such as ``postgresql+psycopg://user@host/db``. Private keys live in key files under
``<data dir>/keys`` unless ``CIVIC_KEYS`` says otherwise. ``CIVIC_ORIGIN`` names the journal's
C2SP checkpoints (default: the economy's id) and ``CIVIC_WITNESSES`` lists the witnesses
(``<url>=<vkey>``, comma-separated) the server asks to cosign them (docs/journal.md).
"""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CIVIC_")

    data_dir: Path = Path("civic-data")
    db: str = ""
    keys: Path | None = None
    request_deadline: float = 10.0
    """Seconds a client has to send a whole request, headers and body (``civicledger.api.limits``)."""
    request_max_headers: int = 100
    request_max_header_bytes: int = 16 * 1024
    origin: str = ""  # the journal's checkpoint origin (and note key name); default: the economy's id
    witnesses: str = ""  # comma-separated <url>=<vkey> of the witnesses asked to cosign checkpoints
    entry_cache_mib: int = 256
    """Each worker's bound on kept entry bundles (``EntryCache``): 256 MiB holds 414,000 signed transfers."""
    read_only: bool = False  # serve reads only, each worker at nice ``nice`` (``civic serve --read-only``)
    nice: int = 0
    read_idle: bool = False  # and under SCHED_IDLE (``--idle``)

    def db_url(self) -> str:
        return database_url(self.db or str(self.data_dir / "civicledger.db"))

    def key_dir(self) -> Path:
        return self.keys if self.keys is not None else self.data_dir / "keys"


def database_url(db: str) -> str:
    """A path means a SQLite file; anything with '://' is already a URL."""
    if "://" in db:
        return db
    return f"sqlite:///{Path(db).expanduser().resolve()}"
