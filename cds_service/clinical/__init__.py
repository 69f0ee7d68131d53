"""Clinical layer: PatientRecord (or plain text) in, Findings out.

Knows nothing of HTTP, Flask or CDS Hooks messages, so ``cds-service evaluate``, a
notebook or a test can run it without a server.
"""
