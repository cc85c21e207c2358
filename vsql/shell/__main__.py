"""`python -m vsql.shell`: the same shell as the `vsql` command."""

from .cli import main

raise SystemExit(main())
