"""``python -m eswifi``: the same as the ``eswifi`` command."""

from eswifi.cli.main import main

raise SystemExit(main())
