"""Pure tensor functions: colour spaces, resizing. No I/O, no models."""
