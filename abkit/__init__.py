"""abkit."""
