"""Names the config reserves for calmopsd's own use, kept apart from the models so the API's
token check can name them without building the config's schema."""

LOCAL_TOKEN_NAME = "local-cli"  # noqa: S105  # a name, not a secret
"""The token the daemon writes for the local CLI at each start; no configured token may take it."""
