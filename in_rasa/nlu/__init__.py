"""Rasa NLU components and entity value normalisers."""
