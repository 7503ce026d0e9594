"""What a PostgreSQL role may do beyond reading: the privilege test the `Warehouse` applies before
it runs generated SQL (and refuses a privileged role unless the caller opts in), and that
`sqltune check` reports, so both say the same thing about the same role.

A role is privileged when it is a superuser, can create roles, is a member of a role that reaches
server files, programs or other sessions, or can write (INSERT, UPDATE, DELETE, TRUNCATE) a table
or view of the warehouse.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

# One help text for the opt-in, wherever a command or config offers it.
ALLOW_PRIVILEGED_ROLE_HELP = ("Run SQL as a PostgreSQL role that is a superuser or can write tables (refused by default; "
                              "not recommended). Also SQLTUNE_ALLOW_PRIVILEGED_ROLE=1.")
ENV_OPT_IN = "SQLTUNE_ALLOW_PRIVILEGED_ROLE"

DANGEROUS_ROLES = ("pg_read_server_files", "pg_write_server_files", "pg_execute_server_program", "pg_signal_backend")

_ROLE_SQL = """
SELECT r.rolsuper, r.rolcreaterole,
       ARRAY(SELECT g.rolname::text FROM pg_roles g
             WHERE g.rolname = ANY(%(dangerous)s) AND pg_has_role(current_user, g.oid, 'MEMBER')
             ORDER BY 1)
FROM pg_roles r WHERE r.rolname = current_user
"""

WRITABLE_SHOWN = 4  # writable tables named in a message

_WRITABLE_SQL = f"""
SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg\\_toast%%' AND n.nspname NOT LIKE 'pg\\_temp%%'
  AND has_table_privilege(current_user, c.oid, 'INSERT, UPDATE, DELETE, TRUNCATE')
ORDER BY 1 LIMIT {WRITABLE_SHOWN}
"""


@dataclass
class RoleCheck:
    """The connected role and what makes it unsafe for generated SQL (`problems`; empty: it can only read)."""

    role: str
    problems: list[str] = field(default_factory=list)
    beyond_tables: bool = False  # a problem reaches past the tables: server files, other sessions, roles
    writable: list[str] = field(default_factory=list)  # up to WRITABLE_SHOWN tables it can write

    @property
    def privileged(self) -> bool:
        return bool(self.problems)

    @property
    def can_write(self) -> bool:
        return bool(self.writable)


def check_role(connection) -> RoleCheck:
    """The privilege test, on an open DB-API connection (psycopg2) to PostgreSQL."""
    cursor = connection.cursor()
    try:
        cursor.execute("SELECT current_user")
        role = cursor.fetchone()[0]
        cursor.execute(_ROLE_SQL, {"dangerous": list(DANGEROUS_ROLES)})
        superuser, createrole, memberships = cursor.fetchone()
        cursor.execute(_WRITABLE_SQL)
        writable = [r[0] for r in cursor.fetchall()]
    finally:
        cursor.close()
    problems = []
    if superuser:
        problems.append("it is a superuser")
    if createrole:
        problems.append("it can create roles (CREATEROLE)")
    if memberships:
        problems.append(f"it is a member of {', '.join(memberships)}")
    beyond_tables = bool(problems)
    if writable:
        problems.append(f"it can write tables ({', '.join(writable)}{', ...' if len(writable) == WRITABLE_SHOWN else ''})")
    return RoleCheck(role=role, problems=problems, beyond_tables=beyond_tables, writable=writable)


def privileged_role_allowed(allow_privileged_role: bool = False) -> bool:
    """The caller's opt-in, or the environment's (SQLTUNE_ALLOW_PRIVILEGED_ROLE=1)."""
    return allow_privileged_role or os.environ.get(ENV_OPT_IN, "").strip().lower() in ("1", "true", "yes")
