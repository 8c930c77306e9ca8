"""Training, data and evaluation for Translator Studio (not needed to run the app)."""
