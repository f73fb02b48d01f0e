"""``python -m dhr_sdk`` runs the ``dhr`` command line."""

from dhr_sdk.cli.main import main

main()
