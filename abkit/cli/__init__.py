"""The abkit command.

May import: every wing.
"""
