"""The blob store port and its implementations."""
