"""Billing: prices, statements, invoices, payment methods and budgets."""
