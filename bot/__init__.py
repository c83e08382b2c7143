"""Northwind care: the gateway, agent desk and NLU components around the Rasa assistant."""
