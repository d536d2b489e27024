"""Traces teams already record (OpenTelemetry GenAI spans) -> the dialog log.

May import: core, stats, plan, serve.
"""
