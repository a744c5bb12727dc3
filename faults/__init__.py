"""`make faults`: crash anything under load, lose nothing, breach nothing falsely.

The suite starts a private Atende exactly as `make run` does (its own ports and run dir, through
tests/e2e/private_system.py), drives it with interactions, agents and survey respondents, injects
one fault per scenario and prints one row per scenario: offered, acknowledged, lost, duplicated
effects, client answers by status, deadlocks, false breaches and recovery time.
`python -m faults.run --help` lists the scenarios and options.
"""
