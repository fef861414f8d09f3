"""Compute: virtual machines on QEMU, and the account's SSH keys that reach them."""
