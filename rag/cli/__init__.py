"""The command line: ``python -m rag ingest|list|delete|search|ask|eval``."""
