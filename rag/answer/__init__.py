"""Answering: the prompt, the Ollama client, the chat session, and the checks run on what the model wrote."""
