"""One module per operation family; :data:`HANDLERS` maps each operation to its handler."""
