"""Text utilities (/v1/text/process): pure functions of a text, run off the service's event loop."""
