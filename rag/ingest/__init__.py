"""Ingestion: PDF pages read in bounded worker processes (text, tables, OCR), checked, chunked and written."""
