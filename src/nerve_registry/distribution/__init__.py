"""Client for the OCI distribution HTTP API of the registry, one module per noun."""
