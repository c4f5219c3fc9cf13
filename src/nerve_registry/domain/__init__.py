"""Domain logic: references, image listing, status checks, deletion and retention."""
