"""Modal screens: the confirmation before an action that ends audio, and the help."""
