"""Therapy pairs: choosing labelled sentences per emotion, and exporting the pairs."""
