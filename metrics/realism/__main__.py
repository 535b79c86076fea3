"""`python -m metrics.realism`: see metrics/realism/cli.py."""
from metrics.realism.cli import main

raise SystemExit(main())
