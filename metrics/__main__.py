"""`python -m metrics`: see metrics/cli.py."""
from metrics.cli import main

raise SystemExit(main())
