"""Dataset builders (emoji, fonts) and loaders for a user's own folders."""
