"""Read any database SQLAlchemy can reach (PostgreSQL, SQLite, MySQL, ...) into a `Schema`.

Uses the dialect-neutral `inspect()` API for tables, columns, keys and comments, and SQLAlchemy
Core for samples and row counts, so no SQL text here is specific to one database. One database
schema is read: `db_schema`, else the connection's default (for PostgreSQL the first entry of
`search_path`, which a URL can set with `?options=-csearch_path=NAME`). Tables come sorted by
name, then views.
"""

from __future__ import annotations

import logging

from sqltune.core.errors import SchemaSourceError
from sqltune.schema._common import first_line
from sqltune.schema.model import Column, ForeignKey, Schema, Table
from sqltune.schema.samples import SampleOptions, clean_samples, sampleable, value_list

log = logging.getLogger(__name__)

# sqlglot dialect names for SQLAlchemy dialect names where they differ.
_SQLGLOT_DIALECTS = {"postgresql": "postgres", "mssql": "tsql", "sqlite": "sqlite", "mysql": "mysql", "mariadb": "mysql"}


def read_sqlalchemy(
    url: str, *, db_schema: str | None = None, samples: SampleOptions = SampleOptions(), include_views: bool = True,
    timeout_s: float = 30.0,
) -> Schema:
    """Read one schema of the database at `url`; unreachable or unreadable -> `SchemaSourceError`.

    `timeout_s` bounds connecting (a host that accepts but never answers fails in that time) and
    every statement, where the driver supports it (PostgreSQL, MySQL/MariaDB, SQLite's lock wait)."""
    import sqlalchemy as sa

    engine, shown = create_engine(url, timeout_s=timeout_s)
    try:
        with engine.connect() as conn:
            return _read(conn, engine.url, db_schema, samples, include_views)
    except sa.exc.SQLAlchemyError as exc:
        cause = first_line(getattr(exc, "orig", None) or exc)
        raise SchemaSourceError(shown, cause) from exc
    finally:
        engine.dispose()


def create_engine(url: str, *, timeout_s: float = 30.0):
    """(engine, URL with the password masked) for `url`, with connect and statement timeouts;
    a bad URL or a missing driver -> `SchemaSourceError` with the package to install."""
    import sqlalchemy as sa
    from sqlalchemy.pool import NullPool

    from sqltune.core.connections import mask_url, normalize_url

    try:
        parsed = _with_installed_driver(sa.engine.make_url(normalize_url(url)))
        shown = parsed.render_as_string(hide_password=True)
    except SchemaSourceError:
        raise
    except Exception as exc:  # noqa: BLE001 - any malformed URL is the user's to fix
        raise SchemaSourceError(mask_url(url), f"invalid database URL ({first_line(exc)})") from exc
    try:
        engine = sa.create_engine(parsed, poolclass=NullPool, connect_args=_timeout_args(parsed, timeout_s))
    except Exception as exc:  # noqa: BLE001 - missing driver, unknown dialect
        raise SchemaSourceError(shown, _driver_hint(parsed, exc)) from exc
    return engine, shown


# Drivers to try, in order, per backend when the URL names none; and what to install.
_DRIVERS = {
    "postgresql": (("psycopg", "psycopg"), ("psycopg2", "psycopg2")),
    "mysql": (("mysqldb", "MySQLdb"), ("pymysql", "pymysql"), ("mysqlconnector", "mysql.connector")),
    "mariadb": (("mysqldb", "MySQLdb"), ("pymysql", "pymysql"), ("mariadbconnector", "mariadb")),
}
_INSTALL_HINTS = {
    "postgresql": "pip install psycopg2-binary (URL postgresql://...)",
    "mysql": "pip install pymysql and write the URL as mysql+pymysql://user@host/db (or pip install mysqlclient)",
    "mariadb": "pip install pymysql and write the URL as mariadb+pymysql://user@host/db (or pip install mysqlclient)",
    "mssql": "pip install pyodbc (URL mssql+pyodbc://...)",
    "snowflake": "pip install snowflake-sqlalchemy",
    "bigquery": "pip install sqlalchemy-bigquery",
    "duckdb": "pip install duckdb-engine, or pass the DuckDB file path instead of a URL",
}


def _with_installed_driver(url):
    """A URL without +driver gets the first installed driver of its backend (SQLAlchemy 2.1 would
    insist on psycopg 3 for postgresql://, mysqlclient for mysql://)."""
    import importlib.util

    if "+" in url.drivername or url.drivername not in _DRIVERS:
        return url
    for driver, module in _DRIVERS[url.drivername]:
        if importlib.util.find_spec(module.split(".")[0]) is not None:
            return url.set(drivername=f"{url.drivername}+{driver}")
    hint = _INSTALL_HINTS.get(url.drivername)
    raise SchemaSourceError(url.render_as_string(hide_password=True), f"no {url.drivername} driver is installed: {hint}")


def _driver_hint(url, exc: BaseException) -> str:
    text = first_line(exc)
    backend = url.get_backend_name()
    if isinstance(exc, ModuleNotFoundError) or "Can't load plugin" in text or "No module named" in text:
        hint = _INSTALL_HINTS.get(backend)
        return f"{text}; {hint}" if hint else text
    return text


def _timeout_args(url, timeout_s: float) -> dict:
    """Driver arguments that bound connecting and each statement to about `timeout_s` seconds."""
    seconds = max(1, int(round(timeout_s)))
    backend, driver = url.get_backend_name(), url.get_driver_name()
    if backend == "postgresql" and driver in ("psycopg2", "psycopg", "pg8000"):
        statement = f"-c statement_timeout={seconds * 1000}"
        options = url.query.get("options")
        if isinstance(options, tuple):
            options = " ".join(options)
        if driver == "pg8000":
            return {"timeout": seconds}
        return {"options": f"{options} {statement}" if options else statement, "connect_timeout": max(2, seconds)}
    if backend in ("mysql", "mariadb"):
        if driver in ("pymysql", "mysqldb"):
            return {"connect_timeout": seconds, "read_timeout": seconds, "write_timeout": seconds}
        if driver == "mysqlconnector":
            return {"connection_timeout": seconds}
    if backend == "sqlite":
        return {"timeout": seconds}
    return {}


def _read(conn, url, db_schema: str | None, samples: SampleOptions, include_views: bool) -> Schema:
    import sqlalchemy as sa

    insp = sa.inspect(conn)
    schema_name = db_schema or insp.default_schema_name
    names = [(n, False) for n in sorted(insp.get_table_names(schema=schema_name))]
    if include_views:
        names += [(n, True) for n in sorted(insp.get_view_names(schema=schema_name))]
    if db_schema and not names and db_schema not in insp.get_schema_names():
        raise sa.exc.NoSuchTableError(f"no schema named {db_schema!r}")
    tables = []
    for name, is_view in names:
        tables.append(_read_table(conn, insp, name, schema_name, is_view, samples))
    label = url.database or schema_name or url.get_backend_name()
    label = label.rsplit("/", 1)[-1]
    if url.get_backend_name() == "sqlite":
        label = label.rsplit(".", 1)[0] or label
    dialect = _SQLGLOT_DIALECTS.get(url.get_backend_name(), url.get_backend_name())
    log.info("read %d tables from %s", len(tables), url.render_as_string(hide_password=True))
    return Schema(name=label, tables=tables, dialect=dialect)


def _read_table(conn, insp, name: str, schema_name: str | None, is_view: bool, samples: SampleOptions) -> Table:
    import sqlalchemy as sa

    columns = []
    for info in insp.get_columns(name, schema=schema_name):
        columns.append(
            Column(
                name=info["name"],
                type=_type_text(info["type"], conn.dialect),
                nullable=bool(info.get("nullable", True)),
                comment=info.get("comment") or None,
            )
        )
    pk = () if is_view else tuple(insp.get_pk_constraint(name, schema=schema_name).get("constrained_columns") or ())
    fks = []
    if not is_view:
        for fk in insp.get_foreign_keys(name, schema=schema_name):
            ref = fk["referred_table"]
            if fk.get("referred_schema") and fk["referred_schema"] != schema_name:
                ref = f"{fk['referred_schema']}.{ref}"
            fks.append(ForeignKey(tuple(fk["constrained_columns"]), ref, tuple(fk["referred_columns"])))
    try:
        comment = insp.get_table_comment(name, schema=schema_name).get("text") or None
    except NotImplementedError:
        comment = None

    table = sa.table(name, *[sa.column(c.name) for c in columns], schema=schema_name)
    if samples.count > 0:
        for col in columns:
            if sampleable(col.type):
                values = _frequent_values(conn, table, col.name, samples)
                col.samples = clean_samples(values, samples)
                col.values = value_list(values, col.type, samples)
    row_count = None
    if not is_view:
        row_count = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
    return Table(name, columns, pk, fks, comment, row_count)


def _frequent_values(conn, table, column_name: str, samples: SampleOptions) -> list:
    """Most frequent values in the first `scan_rows` rows; a column that cannot be grouped has none."""
    import sqlalchemy as sa

    scanned = sa.select(table.c[column_name].label("v")).limit(samples.scan_rows).subquery()
    query = (
        sa.select(scanned.c.v)
        .where(scanned.c.v.is_not(None))
        .group_by(scanned.c.v)
        .order_by(sa.func.count().desc(), scanned.c.v)
        .limit(samples.fetch)
    )
    try:
        with conn.begin_nested():
            values = conn.execute(query).scalars().all()
    except sa.exc.DBAPIError as exc:
        log.info("no samples for %s.%s: %s", table.name, column_name, first_line(exc))
        return []
    return list(values)


def _type_text(sa_type, dialect) -> str:
    try:
        return sa_type.compile(dialect=dialect)
    except Exception:  # noqa: BLE001 - exotic types without a compiler: keep their class name
        return type(sa_type).__name__.upper()
