"""The functional core of sla: business calendars, policies and clock arithmetic."""
