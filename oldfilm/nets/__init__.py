"""nn.Module definitions. Builders take their configuration as keywords; no file I/O here."""
