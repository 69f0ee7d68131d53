"""FHIR side of the service: prefetch handling, fetching, and the typed patient record."""
