"""Accounts: who owns buckets and keys."""
