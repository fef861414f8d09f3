"""Command-line entry points: ``nexq`` (serve, admin)."""
