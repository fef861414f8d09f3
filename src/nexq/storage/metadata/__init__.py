"""The metadata store port and its implementations."""
