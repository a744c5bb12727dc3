"""Atende survey service. Transactional NPS after resolution and the closed loop of follow-ups."""

SERVICE = "survey"
