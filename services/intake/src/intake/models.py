"""Tables of the intake service (SQLAlchemy 2)."""

from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

from atende_events.db import NAMING_CONVENTION


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
