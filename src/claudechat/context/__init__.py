"""Context policies: what part of the history goes into each request."""
