"""``python -m mbi``: the command line."""

from mbi.cli import main

raise SystemExit(main())
