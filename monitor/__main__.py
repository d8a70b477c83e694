"""`python -m monitor` is the same command line as `marginwatch`."""

from monitor.cli import main

raise SystemExit(main())
