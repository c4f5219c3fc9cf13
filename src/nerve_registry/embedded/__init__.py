"""The embedded registry: a supervised ``docker-registry`` process and its configuration file."""
