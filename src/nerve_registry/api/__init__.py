"""HTTP layer of the service: the FastAPI application, its routes and its error handlers."""
