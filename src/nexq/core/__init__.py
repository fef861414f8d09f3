"""What every service shares: database, crypto, ids, errors."""
