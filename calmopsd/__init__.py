"""calmopsd: a calm, safe on-host operations agent.

The package is laid out as the pipeline it runs:
sense → detect → respond → act → record → serve (see docs/architecture.md).
"""

__version__ = "0.1.0"
