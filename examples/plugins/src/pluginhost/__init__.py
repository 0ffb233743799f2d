"""A project whose plugins, and whose dependencies' plugins, are found through entry points."""
