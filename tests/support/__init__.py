"""Helpers shared by the tests: OCI image layouts, skopeo, free ports and an event loop thread."""
