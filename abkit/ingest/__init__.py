"""Traces teams already record (OTLP exports: GenAI or OpenInference spans, evaluation and
feature-flag events) -> the dialog log: otlp reads, evaluations links events, otel maps.

May import: core, stats, plan, serve, analysis (an exposure log is read as the analysis reads
logs).
"""
