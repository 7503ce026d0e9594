"""One exception tree for the whole package.

Library code raises these; the CLI turns any `SqltuneError` into a one-line message and a
non-zero exit code, without a traceback. Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class SqltuneError(Exception):
    """Base of every error a user can cause and fix."""

    exit_code = 1


class InputError(SqltuneError):
    """A user-supplied file or value is malformed. Names the source and, where known, the line."""

    def __init__(self, message: str, *, source: str | None = None, line: int | None = None):
        self.source = source
        self.line = line
        where = ""
        if source is not None:
            where = f"{source}:{line}: " if line is not None else f"{source}: "
        super().__init__(f"{where}{message}")


class SchemaSourceError(SqltuneError):
    """A warehouse or schema source cannot be read (missing file, unreachable URL, bad DDL)."""

    def __init__(self, source: str, cause: str):
        from sqltune.core.secrets import mask_secrets

        self.source = mask_secrets(str(source))
        self.cause = mask_secrets(str(cause))
        super().__init__(f"cannot read schema from {self.source}: {self.cause}")


class PrivilegedRoleError(SqltuneError):
    """A warehouse role could do more than read (superuser, writes); refused unless the user opts in."""


class ModelError(SqltuneError):
    """A model or adapter cannot be found, loaded or used."""


class TrainingCheckFailed(SqltuneError):
    """A pre-training sanity check failed (trainable share, step-0 loss, chat template)."""


class ConfigError(SqltuneError):
    """A config file or option is invalid."""


class MissingOptionError(ConfigError):
    """A required option (`--db`, `--data`) was given neither on the command line nor by a config,
    recipe or record. Exit code 2, as the command-line parser's own "Missing option" error, so a
    missing `--db` exits alike on every command."""

    exit_code = 2
