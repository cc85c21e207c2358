"""`python -m vsql.client.shell`: the same shell as the `vsql` command."""

from vsql.client.shell.cli import main

raise SystemExit(main())
