"""Size limits of the API."""

# Largest request body accepted (413 beyond).
MAX_BODY_BYTES = 64 * 1024
