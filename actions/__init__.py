"""Custom actions of the Northwind assistant, one module per topic.

``rasa run actions`` imports every module of this package; the action classes
register themselves by subclassing ``rasa_sdk.Action``.
"""
