"""Streamlit views: what each page draws (the pages and app.py only call these)."""
