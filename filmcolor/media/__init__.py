"""Media I/O: the only modules that touch PyAV and image files."""
