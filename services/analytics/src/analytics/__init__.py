"""Atende analytics service. Read models and the KPIs of the contact center."""

SERVICE = "analytics"
