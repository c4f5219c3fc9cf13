"""The ``nerve-registry`` command line."""
