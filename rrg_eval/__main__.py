"""``python -m rrg_eval`` runs the ``rrg-eval`` command line."""

from .cli import main

raise SystemExit(main())
