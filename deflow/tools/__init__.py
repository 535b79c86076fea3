"""Command-line tools; each module has a `main(argv=None)` and a thin wrapper in scripts/."""
