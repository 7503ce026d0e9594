"""Database connections a user names: URLs, `env:VAR` and `profile:NAME`, shown without secrets.

A `--db` value can be a file path, an SQLAlchemy URL, `env:MY_DB_URL` (the URL is in that
environment variable, so it stays off the command line and out of shell history) or
`profile:NAME` (an entry of the profiles file, as dbt does: `$SQLTUNE_PROFILES`, else
`~/.sqltune/profiles.yaml`). The unresolved form is what configs, reports and records keep;
`resolve_source` turns it into the real URL only where a connection is opened.

Every URL that is shown or stored goes through `mask_url`/`mask_secrets`: the password becomes
`***`.

A profiles file:

    warehouse:                      # --db profile:warehouse
      url: postgresql://reader@db.internal:5432/sales
      password: ${SALES_DB_PASSWORD}   # ${VAR}: read from the environment
    local:
      type: postgresql                 # or the parts of a URL
      host: 127.0.0.1
      user: reader
      database: sales
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqltune.core.errors import ConfigError
from sqltune.core.secrets import MASK, mask_in, mask_secrets, mask_url  # noqa: F401 - re-exported

ENV_PREFIX = "env:"
PROFILE_PREFIX = "profile:"

# URL scheme (the part before any +driver) -> sqlglot dialect of the SQL that warehouse speaks.
SCHEME_DIALECTS = {
    "postgresql": "postgres", "postgres": "postgres", "redshift": "redshift", "cockroachdb": "postgres",
    "mysql": "mysql", "mariadb": "mysql", "sqlite": "sqlite", "duckdb": "duckdb", "mssql": "tsql",
    "snowflake": "snowflake", "bigquery": "bigquery", "oracle": "oracle", "trino": "trino",
    "presto": "presto", "clickhouse": "clickhouse", "databricks": "databricks", "hive": "hive",
}


def normalize_url(url: str) -> str:
    """Spellings SQLAlchemy does not accept, rewritten: `postgres://` (Heroku, Render, libpq docs)
    is `postgresql://`."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    base, plus, driver = scheme.partition("+")
    if base.lower() == "postgres":
        scheme = "postgresql" + plus + driver
    return f"{scheme}{sep}{rest}"


def is_named_connection(source: str) -> bool:
    return source.startswith((ENV_PREFIX, PROFILE_PREFIX))


def resolve_source(source: str | os.PathLike) -> str:
    """The real location behind a `--db` value: `env:VAR` and `profile:NAME` looked up, URLs
    normalised (`postgres://` -> `postgresql://`); paths returned as they are."""
    text = str(source).strip()
    if text.startswith(ENV_PREFIX):
        name = text[len(ENV_PREFIX):].strip()
        if not name:
            raise ConfigError("--db env:VAR needs the name of an environment variable")
        value = os.environ.get(name, "").strip()
        if not value:
            raise ConfigError(f"--db {text}: environment variable {name} is not set")
        if is_named_connection(value):
            raise ConfigError(f"--db {text}: {name} holds another reference ({value.split(':', 1)[0]}:...), not a URL")
        return normalize_url(value)
    if text.startswith(PROFILE_PREFIX):
        return normalize_url(profile_url(text[len(PROFILE_PREFIX):].strip()))
    return normalize_url(text) if "://" in text else text


def profiles_path() -> Path:
    """$SQLTUNE_PROFILES, else ~/.sqltune/profiles.yaml."""
    env = os.environ.get("SQLTUNE_PROFILES")
    return Path(env).expanduser() if env else Path.home() / ".sqltune" / "profiles.yaml"


def load_profiles(path: str | Path | None = None) -> dict[str, Any]:
    import yaml

    file = Path(path) if path is not None else profiles_path()
    if not file.is_file():
        raise ConfigError(f"no profiles file at {file} (set SQLTUNE_PROFILES or create it; see README 'Your own warehouse')")
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{file}: top level must map profile names to connections")
    return data


_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _expand(value: Any, where: str) -> str:
    def lookup(match: re.Match) -> str:
        name = match.group(1)
        if name not in os.environ:
            raise ConfigError(f"{where}: environment variable {name} is not set")
        return os.environ[name]

    return _ENV_REF.sub(lookup, str(value))


def profile_url(name: str, path: str | Path | None = None) -> str:
    """The URL of profile `name`: its `url` (with `password` filled in), or a URL built from its
    parts (type, host, port, user, password, database). `${VAR}` reads the environment."""
    file = Path(path) if path is not None else profiles_path()
    profiles = load_profiles(file)
    if not name:
        raise ConfigError("--db profile:NAME needs a profile name")
    if name not in profiles:
        known = ", ".join(sorted(map(str, profiles))) or "none"
        raise ConfigError(f"no profile {name!r} in {file} (profiles: {known})")
    entry = profiles[name]
    where = f"{file}: profile {name}"
    if isinstance(entry, str):
        return _expand(entry, where)
    if not isinstance(entry, dict):
        raise ConfigError(f"{where}: expected a URL or a mapping")
    fields = {k: _expand(v, where) for k, v in entry.items() if v is not None}
    password = fields.pop("password", None)
    if "url" in fields:
        url = fields["url"]
        if password is not None:
            import sqlalchemy as sa

            try:
                url = sa.engine.make_url(normalize_url(url)).set(password=password).render_as_string(hide_password=False)
            except Exception as exc:  # noqa: BLE001 - the user's URL to fix
                raise ConfigError(f"{where}: invalid url ({str(exc).splitlines()[0]})") from None
        return url
    kind = fields.get("type") or fields.get("dialect")
    if not kind:
        raise ConfigError(f"{where}: give url, or type with host, user, database")
    auth = quote(fields.get("user", ""), safe="")
    if password is not None:
        auth += ":" + quote(password, safe="")
    host = fields.get("host", "")
    if fields.get("port"):
        host += f":{fields['port']}"
    database = fields.get("database") or fields.get("dbname") or ""
    return f"{kind}://{auth + '@' if auth else ''}{host}/{database}"


def url_dialect(url: str) -> str | None:
    """The sqlglot dialect of a URL's warehouse, from its scheme (None: not a URL or unknown)."""
    scheme, sep, _ = normalize_url(url).partition("://")
    if not sep:
        return None
    return SCHEME_DIALECTS.get(scheme.split("+", 1)[0].lower())
