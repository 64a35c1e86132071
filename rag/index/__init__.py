"""Where documents live: the SQLite catalogue, the Chroma vector store and the BM25 indexes."""
