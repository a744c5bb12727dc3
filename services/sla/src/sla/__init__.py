"""Atende sla service. Regulatory and operational deadline clocks on business calendars."""

SERVICE = "sla"
