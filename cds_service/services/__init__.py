"""CDS services: each module declares its ServiceDefinitions next to its handler."""
