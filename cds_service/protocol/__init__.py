"""CDS Hooks 2.0 protocol: messages, validation, the service registry.

Knows nothing about legs: no codes, no guidelines, no card wording.
"""
