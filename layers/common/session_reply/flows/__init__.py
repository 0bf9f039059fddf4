"""One module per use case; each takes its adapters through a `Context`."""
