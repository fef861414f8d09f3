"""The QEMU engine: the tiny image, the machine process and its QMP control socket."""
