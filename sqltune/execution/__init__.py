"""Running SQL on a user's warehouse safely: the AST guard and the sandboxed, read-only execution."""
