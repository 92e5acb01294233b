"""The results store: every build and benchmark in one database, queried back as DataFrames.

``ResultsStore(url)`` takes a plain file path or ``sqlite:///path`` (the embedded default: one file per laptop) or
``postgresql://user:password@host/db`` (one shared store for a room or a team). Both go through SQLAlchemy Core with
the same table and the same migrations, so a store can be copied from one to the other (``copy_runs_from``).

Concurrency: SQLite runs in WAL mode with a busy timeout and every write takes the write lock at BEGIN; PostgreSQL
serializes the schema migration with an advisory lock. Each record is one short transaction.

A shared server that goes away never loses a run: the row goes to a local SQLite spool beside the workspace, a
``ResultsStoreUnavailableError`` says so, and ``push_pending()`` (``workbench runs --push``) sends it later. Every
run has a ``uid``, so pushing or copying twice never duplicates it. Passwords are masked in every message and repr.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Mapping, TYPE_CHECKING

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from ..errors import ResultsStoreError, ResultsStoreUnavailableError
from .records import FLAG_COLUMNS, INTEGER_COLUMNS, benchmark_record, build_record, run_label, runs_table
from .records import clean as _clean
from ..redact import SECRET_KEYS, redact, remember_secret

if TYPE_CHECKING:
    from ..engines import BuildResult
    from ..files import PathArg
    from ..model.sources import ModelSource
    from .harness import Measurement

SCHEMA_VERSION = 3
DEFAULT_FILENAME = "workbench-results.sqlite"
SERVER_SCHEMES = ("postgresql",)

_metadata = sa.MetaData()
RUNS = runs_table(_metadata)  # every column from the one run record (records.RUN_COLUMNS)
sa.Index("runs_model", RUNS.c.model_fingerprint)
sa.Index("runs_uid", RUNS.c.uid, unique=True)
_COPIED_COLUMNS = [c.name for c in RUNS.columns if c.name != "id"]

# Any constant: the key of PostgreSQL's advisory lock that serializes migrations of one database.
_MIGRATION_LOCK_KEY = 0x7B3E_11
_SCHEMA_TABLE = "workbench_schema"


def default_store_url() -> str:
    """``$WORKBENCH_RESULTS`` (a path or a database URL) if set, else ``workbench-results.sqlite`` in the current
    (workspace) folder."""
    return os.environ.get("WORKBENCH_RESULTS") or str(Path.cwd() / DEFAULT_FILENAME)


def default_store_path() -> Path:
    """The default store's file (``$WORKBENCH_RESULTS`` when it names a file, else ./workbench-results.sqlite)."""
    location = default_store_url()
    if "://" in location:
        url = sa.engine.make_url(location)
        return (
            Path(url.database) if url.get_backend_name() == "sqlite" and url.database else Path.cwd() / DEFAULT_FILENAME
        )
    return Path(location)


def _inserted_id(result) -> int | None:
    """The id of the row an INSERT wrote; None when ON CONFLICT DO NOTHING skipped it. PostgreSQL reports a skipped
    row with no primary key at all (seen when four pushes of one spool raced), not only with rowcount 0."""
    key = result.inserted_primary_key if result.rowcount else None
    return key[0] if key else None


def _parse_url(location) -> sa.engine.URL:
    text = os.fspath(location)
    if "://" not in text:
        return sa.engine.URL.create("sqlite", database=str(Path(text)))
    try:
        url = sa.engine.make_url(text)
        if url.port is not None and not 1 <= url.port <= 65535:  # a port that is not a number fails here too
            raise ValueError(f"port {url.port} is outside 1-65535")
    except (sa.exc.ArgumentError, ValueError) as exc:
        why = "" if isinstance(exc, sa.exc.ArgumentError) else f" ({redact(exc)})"
        raise ResultsStoreError(
            f"results store URL {redact(text)!r} is not a database URL{why} (use a file path, "
            "sqlite:///path or postgresql://user:password@host/database)"
        ) from None
    _remember_url_secrets(url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        return url.set(drivername="sqlite")
    if backend in SERVER_SCHEMES:
        return url.set(drivername="postgresql+psycopg")  # psycopg 3, whatever driver the URL named
    raise ResultsStoreError(
        f"results store {redact(url.render_as_string(hide_password=True))}: the database "
        f"'{backend}' is not supported (use sqlite:///path or postgresql://...)"
    )


def _remember_url_secrets(url: sa.engine.URL) -> None:
    """The URL's password and query-string credentials are masked in every later message, row and export."""
    remember_secret(url.password)
    for key, value in url.query.items():
        if key.lower() in SECRET_KEYS:
            for item in value if isinstance(value, tuple) else (value,):
                remember_secret(item)


class ResultsStore:
    """One database of runs: a file path / ``sqlite:///path`` (default :func:`default_store_url`) or
    ``postgresql://...`` for a shared store.

    Opening creates or migrates the schema, so an unwritable path or an unreachable server fails before any
    measuring. ``spool``: where runs wait while a shared server is unreachable (default: a
    ``workbench-results-pending-<hash>.sqlite`` file in the current folder, one per server).
    """

    def __init__(self, url: str | os.PathLike | None = None, *, spool: str | os.PathLike | None = None):
        self._url = _parse_url(url if url is not None else default_store_url())
        self.is_server = self._url.get_backend_name() != "sqlite"
        self.read_only = False
        # the only form ever shown: password masked, the scheme as users write it
        self.location = redact(
            self._url.set(drivername=self._url.get_backend_name()).render_as_string(hide_password=True)
            if self.is_server
            else str(self._url.database)
        )
        self.spool_path = (
            Path(spool)
            if spool is not None
            else (
                Path.cwd() / f"workbench-results-pending-{hashlib.sha1(self.location.encode()).hexdigest()[:10]}.sqlite"
                if self.is_server
                else None
            )
        )
        self._open()

    # --- connection and schema ------------------------------------------------------------------------------------
    @property
    def path(self) -> Path | str:
        """The SQLite file (a Path), or the masked URL of a server store."""
        return Path(self._url.database) if not self.is_server else self.location

    def _open(self) -> None:
        if not self.is_server:
            path = Path(self._url.database)
            if path.is_dir():
                raise ResultsStoreError(
                    f"results store {path} is a folder; give a file path such as {path / DEFAULT_FILENAME}"
                )
            self.read_only = _read_only_file(path)
            if self.read_only:
                self._open_read_only(path)
                return
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise ResultsStoreError(f"results store {path} cannot be created: {exc.strerror or exc}") from None
            _check_before_writing(path)
            self._engine = sa.create_engine(self._url, poolclass=NullPool, connect_args={"timeout": 30})
            sa.event.listen(self._engine, "connect", _sqlite_on_connect)
            sa.event.listen(self._engine, "begin", _sqlite_on_begin)
        else:
            # No pre-ping (a round trip per run): a pooled connection that a restarted server dropped is detected
            # by SQLAlchemy, the pool is renewed, and the operation is tried once more (_stale).
            self._engine = sa.create_engine(self._url, pool_size=2, max_overflow=4, connect_args={"connect_timeout": 5})
        try:
            with self._engine.begin() as conn:
                self._migrate(conn)
        except sa.exc.OperationalError as exc:
            if self.is_server:
                raise self._error("cannot be reached", exc, ResultsStoreUnavailableError) from None
            raise self._error(
                "cannot be used" if "not a database" in str(exc) or "malformed" in str(exc) else "cannot be created",
                exc,
            ) from None
        except sa.exc.SQLAlchemyError as exc:
            raise self._error("cannot be used", exc) from None

    def _open_read_only(self, path: Path) -> None:
        """A store the user cannot write (read-only file, folder or medium): listed through a read-only connection
        (no WAL switch, no -shm file; ``immutable`` when the folder itself is read-only), never migrated."""
        import sqlite3
        from urllib.parse import quote

        flag = "mode=ro" if os.access(path.parent, os.W_OK) else "immutable=1"
        uri = f"file:{quote(str(path.resolve()))}?{flag}"
        self._engine = sa.create_engine(
            "sqlite://", poolclass=NullPool, creator=lambda: sqlite3.connect(uri, uri=True, timeout=30)
        )
        try:
            with self._engine.connect() as conn:
                version = conn.exec_driver_sql("PRAGMA user_version").scalar()
        except sa.exc.SQLAlchemyError as exc:
            raise self._error("cannot be read", exc) from None
        if version != SCHEMA_VERSION:
            raise ResultsStoreError(
                f"results store {path} is read-only and has schema version {version} (this "
                f"workbench reads {SCHEMA_VERSION}): copy it to a writable folder to upgrade it"
            )

    def _refuse_read_only(self) -> None:
        if getattr(self, "read_only", False):
            raise ResultsStoreError(
                f"results store {self.location} is read-only (the file or its folder cannot be "
                "written): nothing was recorded; give a writable store with --results or "
                "WORKBENCH_RESULTS"
            )

    def _error(self, action: str, exc: BaseException, cls=ResultsStoreError) -> ResultsStoreError:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0] if str(exc).strip() else type(exc)
        return cls(redact(f"results store {self.location} {action}: {detail}"))

    def _read_version(self, conn) -> int:
        if not self.is_server:
            return conn.exec_driver_sql("PRAGMA user_version").scalar()
        conn.exec_driver_sql(f"CREATE TABLE IF NOT EXISTS {_SCHEMA_TABLE} (version INTEGER NOT NULL)")
        return conn.exec_driver_sql(f"SELECT max(version) FROM {_SCHEMA_TABLE}").scalar() or 0

    def _write_version(self, conn, version: int) -> None:
        if not self.is_server:
            conn.exec_driver_sql(f"PRAGMA user_version = {int(version)}")
        else:
            conn.exec_driver_sql(f"DELETE FROM {_SCHEMA_TABLE}")
            conn.exec_driver_sql(f"INSERT INTO {_SCHEMA_TABLE} (version) VALUES ({int(version)})")

    def _migrate(self, conn) -> None:
        # The write lock comes BEFORE the version is read (SQLite: BEGIN IMMEDIATE on every write transaction;
        # PostgreSQL: an advisory lock), so two kernels opening an old store at once migrate it once, not twice.
        if self.is_server:
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
        version = self._read_version(conn)
        if version > SCHEMA_VERSION:
            raise ResultsStoreError(
                f"results store {self.location} has schema version {version}, newer than this "
                f"workbench understands ({SCHEMA_VERSION}); upgrade the workbench"
            )
        if version == SCHEMA_VERSION:
            return
        if version == 0:
            _metadata.create_all(conn)
        else:
            if version < 2:  # v2: the model a converted variant came from
                conn.exec_driver_sql("ALTER TABLE runs ADD COLUMN source_model TEXT")
            if version < 3:  # v3: a uid per run, so copies and pushes never duplicate one; agreement with FP32
                conn.exec_driver_sql("ALTER TABLE runs ADD COLUMN uid VARCHAR(32)")
                conn.exec_driver_sql("ALTER TABLE runs ADD COLUMN agreement REAL")
                ids = conn.execute(sa.select(RUNS.c.id)).scalars().all()
                if ids:
                    conn.execute(
                        RUNS.update().where(RUNS.c.id == sa.bindparam("row_id")),
                        [{"row_id": i, "uid": uuid.uuid4().hex} for i in ids],
                    )
                conn.exec_driver_sql("CREATE UNIQUE INDEX runs_uid ON runs (uid)")
        self._write_version(conn, SCHEMA_VERSION)

    def _read(self, query, how: str = "all"):
        """Run a read (no write lock on SQLite: WAL readers never wait for writers); once more on a connection a
        restarted server dropped. ``how``: all (rows), scalar, scalars, one or frame (a DataFrame)."""
        for attempt in range(2):
            try:
                with self._engine.connect().execution_options(sqlite_begin="DEFERRED") as conn:
                    if how == "frame":
                        return pd.read_sql_query(query, conn)
                    result = conn.execute(query)
                    return {
                        "all": result.all,
                        "scalar": result.scalar,
                        "scalars": lambda: result.scalars().all(),  # noqa: B023 - called at once
                        "one": result.one,
                    }[how]()
            except sa.exc.DBAPIError as exc:
                if _stale(exc, attempt):
                    continue
                cls = (
                    ResultsStoreUnavailableError
                    if self.is_server and isinstance(exc, (sa.exc.OperationalError, sa.exc.InterfaceError))
                    else ResultsStoreError
                )
                raise self._error("cannot be read", exc, cls) from None
            except (sa.exc.SQLAlchemyError, pd.errors.DatabaseError) as exc:
                raise self._error("cannot be read", exc) from None
        raise AssertionError("unreachable")

    # --- pickling: a store travels to other processes (Ray tasks) as its URL --------------------------------------
    def __getstate__(self) -> dict[str, str | Path | None]:
        return {"url": self._url.render_as_string(hide_password=False), "spool": self.spool_path}

    def __setstate__(self, state: dict[str, str | Path | None]) -> None:
        self.__init__(state["url"], spool=state["spool"])  # type: ignore[misc]

    # --- writing ------------------------------------------------------------------------------------------------
    def _insert_statement(self, ignore_duplicates: bool):
        """INSERT, or one that skips a run whose uid is already there (a concurrent push or copy won the race)."""
        if not ignore_duplicates:
            return RUNS.insert()
        if self.is_server:
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        return insert(RUNS).on_conflict_do_nothing(index_elements=["uid"])

    def _insert_rows(self, rows: list[dict], ignore_duplicates: bool = False) -> list[int | None]:
        """Insert ``rows`` in one transaction; their ids (None: skipped as a duplicate with ``ignore_duplicates``)."""
        self._refuse_read_only()
        rows = [{k: _clean(v) for k, v in row.items()} for row in rows]
        statement = self._insert_statement(ignore_duplicates)
        for attempt in range(5):
            try:
                with self._engine.begin() as conn:
                    return [_inserted_id(conn.execute(statement, row)) for row in rows]  # compiled once
            except sa.exc.OperationalError as exc:
                if _stale(exc, attempt):
                    continue  # safe to repeat: a run that did arrive is found by its uid (see _insert)
                if self.is_server:
                    raise self._error("cannot be reached", exc, ResultsStoreUnavailableError) from None
                if "locked" not in str(exc) or attempt == 4:
                    raise self._error("cannot record the run", exc) from None
                time.sleep(0.05 * (attempt + 1))
            except (sa.exc.InterfaceError, sa.exc.DisconnectionError) as exc:
                if _stale(exc, attempt):
                    continue
                if not self.is_server:  # a file has no spool: "unavailable" would report a lost run as waiting
                    raise self._error("cannot record the run", exc) from None
                raise self._error("cannot be reached", exc, ResultsStoreUnavailableError) from None
            except sa.exc.SQLAlchemyError as exc:
                raise self._error("cannot record the run", exc) from None
        raise AssertionError("unreachable")

    def _insert(self, values: dict) -> int:
        values.setdefault("uid", uuid.uuid4().hex)
        try:
            return self._insert_rows([values])[0]
        except ResultsStoreUnavailableError as exc:
            if self.spool_path is None:
                raise
            ResultsStore(self.spool_path)._insert(values)  # kept locally: nothing measured is lost
            raise ResultsStoreUnavailableError(
                f"{exc}; the run was kept in {self.spool_path}: send it later with `workbench runs --push` or "
                "ResultsStore.push_pending()",
                spooled=self.spool_path,
            ) from None
        except ResultsStoreError:
            existing = self._id_of(values["uid"])
            if existing is None:
                raise
            return existing  # recorded before (the same run recorded twice, e.g. a retried task): one run

    def record_measurement(
        self,
        measurement: Measurement,
        *,
        model: ModelSource | None = None,
        tags: dict | None = None,
        accuracy: float | None = None,
        uid: str | None = None,
    ) -> int:
        """Store one Measurement (statistics, samples, configuration, machine facts); returns its id.

        ``accuracy`` (or ``tags['accuracy']``, with labels) and ``tags['agreement']`` (top-1 agreement with FP32):
        tags measured on another backend than this run's are left out (see ``quality.measured_quality_only``).
        ``uid``: the run's id across stores; recording the same uid again (a retried Ray task) keeps one run.
        A shared server that cannot be reached: the run is kept in the spool and ResultsStoreUnavailableError says
        so."""
        return self._insert(benchmark_record(measurement, tags, model=model, accuracy=accuracy, uid=uid))

    def record_build(self, result: BuildResult, *, tags: dict | None = None) -> int:
        """Store one engine build (flavour, version, build time, engine size, memory, layer count, and the engine-layer
        table in ``extra`` as ``engine_layer_table``: what an MLflow export or a later session shows of it)."""
        return self._insert(build_record(result, tags))

    # --- copying between stores ------------------------------------------------------------------------------------
    def _raw_rows(self) -> list[dict]:
        return [
            dict(r._mapping) for r in self._read(sa.select(*[RUNS.c[c] for c in _COPIED_COLUMNS]).order_by(RUNS.c.id))
        ]

    def _id_of(self, uid: str) -> int | None:
        return self._read(sa.select(RUNS.c.id).where(RUNS.c.uid == uid), "scalar")

    def _known_uids(self) -> set[str]:
        return set(self._read(sa.select(RUNS.c.uid), "scalars"))

    def copy_runs_from(self, source: "ResultsStore | str | os.PathLike") -> int:
        """Copy every run of ``source`` (e.g. a laptop's SQLite file into the shared PostgreSQL store) that this
        store does not have yet (by uid); returns how many were copied. Copying twice copies nothing the second
        time."""
        source = source if isinstance(source, ResultsStore) else ResultsStore(source)
        known = self._known_uids()
        rows = [
            dict(r, samples_ms=bytes(r["samples_ms"]) if r["samples_ms"] is not None else None)
            for r in source._raw_rows()
            if r["uid"] not in known
        ]
        copied = 0
        for start in range(0, len(rows), 500):
            copied += sum(i is not None for i in self._insert_rows(rows[start : start + 500], ignore_duplicates=True))
        return copied

    def pending(self) -> int:
        """How many runs wait in the spool for this (server) store."""
        if self.spool_path is None or not self.spool_path.exists():
            return 0
        return len(ResultsStore(self.spool_path))

    def push_pending(self) -> int:
        """Send the runs kept in the spool while the server was unreachable; returns how many were sent. The spool
        is emptied only of runs that arrived (a push interrupted again is simply repeated)."""
        if self.spool_path is None or not self.spool_path.exists():
            return 0
        spool = ResultsStore(self.spool_path)
        sent = self.copy_runs_from(spool)
        arrived = sorted(self._known_uids() & {r["uid"] for r in spool._raw_rows()})
        with spool._engine.begin() as conn:
            conn.execute(RUNS.delete().where(RUNS.c.uid.in_(sa.bindparam("uids", expanding=True))), {"uids": arrived})
        return sent

    # --- reading ------------------------------------------------------------------------------------------------
    def runs(self, kind: str | None = None, *, model: str | None = None, samples: bool = False) -> pd.DataFrame:
        """Stored runs as a DataFrame (newest last); ``samples=True`` adds each run's latency samples (ms).

        ``model``: a model name or fingerprint; variants converted from that model (FP16, INT8, ...) are included.
        """
        query = sa.select(RUNS)
        if kind is not None:
            query = query.where(RUNS.c.kind == kind)
        if model is not None:  # the model (name or fingerprint) and the variants converted from it
            query = query.where(
                sa.or_(RUNS.c.model == model, RUNS.c.model_fingerprint == model, RUNS.c.source_model == model)
            )
        frame = self._read(query.order_by(RUNS.c.id), "frame")
        blobs = frame.pop("samples_ms")
        if samples:
            frame["samples_ms"] = [
                np.frombuffer(bytes(b), dtype=np.float32).astype(np.float64).tolist()
                if b is not None and len(b)
                else []
                for b in blobs
            ]
        for flag in FLAG_COLUMNS:
            frame[flag] = frame[flag].astype("boolean")
        for column in INTEGER_COLUMNS:
            frame[column] = frame[column].astype("Int64")  # builds have no batch: keep integers, not floats
        frame["label"] = [run_label(r) for r in frame.to_dict(orient="records")]
        return frame

    def to_csv(self, path: PathArg, **filters: Any) -> Path:
        from ..files import atomic_write_text, check_output_path

        check_output_path(path, "the CSV export", inputs=[] if self.is_server else [self.path])
        return atomic_write_text(path, self.runs(**filters).to_csv(index=False))  # never half a file

    def __len__(self) -> int:
        return self._read(sa.select(sa.func.count()).select_from(RUNS), "scalar")

    def to_mlflow(
        self,
        tracking_uri: str,
        *,
        experiment: str = "tensorrt-workbench",
        artifacts: Callable[[Mapping], Mapping[str, bytes]] | None = None,
        kind: str | None = None,
        model: str | None = None,
    ) -> pd.DataFrame:
        """Log this store's builds and benchmarks as MLflow runs (idempotent: a run logged twice is one run); see
        :func:`workbench.bench.mlflow_export.export_to_mlflow`. ``artifacts``: ``row -> {file name: bytes}`` added
        to each run (``workbench.charts.run_artifacts`` adds the charts)."""
        from .mlflow_export import export_to_mlflow

        return export_to_mlflow(self, tracking_uri, experiment=experiment, artifacts=artifacts, kind=kind, model=model)

    def summary_counts(self) -> tuple[int, int]:
        """(number of runs, highest id): changes whenever a run arrives; what a refreshing view polls."""
        count, top = self._read(sa.select(sa.func.count(), sa.func.max(RUNS.c.id)), "one")
        return int(count), int(top or 0)

    def close(self) -> None:
        """Release pooled connections (a server store keeps a few open)."""
        self._engine.dispose()

    def __repr__(self) -> str:
        return f"<ResultsStore {self.location}>"


def _stale(exc: BaseException, attempt: int) -> bool:
    """A first failure on a pooled connection that the server had dropped (worth one more try)."""
    return attempt == 0 and bool(getattr(exc, "connection_invalidated", False))


def _read_only_file(path: Path) -> bool:
    """An existing store this process cannot write: a read-only file, or one in a read-only folder (WAL needs the
    folder for its -wal/-shm files)."""
    return path.is_file() and not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK))


def _check_before_writing(path: Path) -> None:
    """Before the first write (the WAL switch, the schema version): the file must be a workbench store, and intact.
    Another program's SQLite database is refused untouched; a damaged store is reported, never written into."""
    import sqlite3
    from contextlib import closing
    from urllib.parse import quote

    if not path.is_file() or path.stat().st_size == 0:
        return
    with open(path, "rb") as handle:
        header = handle.read(16)
    if header != b"SQLite format 3\x00":
        raise ResultsStoreError(
            f"results store {path} cannot be used: the file is not a SQLite database (nothing "
            "was written to it); give another path"
        )
    try:
        # Closed explicitly: sqlite3's "with" only commits, and the connection (in a reference cycle) stayed open
        # until the garbage collector ran; in Ray workers opening the store while others committed, that lost
        # committed runs (4 of 15 eight-run sweeps here).
        with closing(sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True, timeout=30)) as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = [
                r[0]
                for r in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
                )
            ]
            columns = {r[1] for r in conn.execute("PRAGMA table_info(runs)")}
            problems = [r[0] for r in conn.execute("PRAGMA quick_check(5)")]
    except sqlite3.DatabaseError as exc:
        if "malformed" not in str(exc):
            raise ResultsStoreError(f"results store {path} cannot be used: {exc} (nothing was written to it)") from None
        problems = [str(exc)]
    if problems != ["ok"]:
        raise ResultsStoreError(
            f"results store {path} is damaged ({'; '.join(problems[:2])}): nothing was written "
            f"to it; rescue its runs with `sqlite3 {path} .recover > rescued.sql` and record "
            "new ones in another file"
        )
    if version == 0 and tables and not set(_COPIED_COLUMNS) <= columns:
        raise ResultsStoreError(
            f"results store {path} is another program's SQLite database (tables: "
            f"{', '.join(sorted(tables)[:5])}; no workbench schema): nothing was written to it; "
            "give another path"
        )


def _sqlite_on_connect(dbapi_connection, _record) -> None:
    # SQLAlchemy's documented recipe: let the "begin" event below emit BEGIN instead of the sqlite3 module.
    dbapi_connection.isolation_level = None
    dbapi_connection.execute("PRAGMA busy_timeout = 30000")
    dbapi_connection.execute("PRAGMA journal_mode = WAL")  # readers never wait for a writer; kept in the file


def _sqlite_on_begin(conn) -> None:
    # IMMEDIATE: the write lock at BEGIN, so a transaction that reads then writes (the migration) cannot race another.
    conn.exec_driver_sql(f"BEGIN {conn.get_execution_options().get('sqlite_begin', 'IMMEDIATE')}")
