"""Atende intake service: one front door for every channel, protocol numbers, party timeline."""

SERVICE = "intake"
