"""Databases: managed PostgreSQL clusters, each run and supervised by Nexq."""
