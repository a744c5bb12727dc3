"""Atende routing service. Skill queues, agents and assignments."""

SERVICE = "routing"
