"""The messaging plumbing's fixtures, for the consumer fed fuzzed records."""

from tests.events.integration.conftest import engine, publisher, sessionmaker

__all__ = ["engine", "publisher", "sessionmaker"]
