"""State store: accounts, sessions and the other records the service keeps, through SQLAlchemy."""
