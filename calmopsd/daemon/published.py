"""The files the daemon publishes in its state dir for the local CLI (``serving.py`` writes
them, ``cli/client.py`` reads them): kept apart so the CLI need not import the API server."""

TOKEN_FILE = "api.token"  # noqa: S105  # a file name, not a secret
ADDRESS_FILE = "api.address"
