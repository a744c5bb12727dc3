"""A simulator of a health plan's customers, agents and survey respondents for `make run`."""
