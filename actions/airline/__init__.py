"""The demo airline's systems: data model, queries and demo data."""
