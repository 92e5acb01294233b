"""The `workbench` command line: every subcommand is a thin shell over the library (and supports --json)."""
