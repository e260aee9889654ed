"""The Hugging Face Hub: the only network client, repository checks and profile import."""
