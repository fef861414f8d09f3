"""Support: plans with first-response targets, tickets with a conversation, an operator queue."""
