"""Atende's event contract and the Kafka and PostgreSQL plumbing every service shares."""
