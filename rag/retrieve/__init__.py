"""Retrieval: dense, lexical and hybrid search over a collection, their fusion, and the search-mode fallback."""
