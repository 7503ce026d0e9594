from sqltune.cli import run

run()
