"""Spiders of the darija-assets crawler (``qesa``: Blogger-style story sites)."""
