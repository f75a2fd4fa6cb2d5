"""Turn files into articles, chunks and vectors, and keep the store in sync with a folder."""
