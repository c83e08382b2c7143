"""A stand-in for the ``rasa`` command line, found first on ``PYTHONPATH`` by tests only.

``python -m rasa run --port N ...`` serves :class:`tests.fakes.assistant.FakeAssistant`
on port N, as a process of its own: tests of ``bot.run``'s process handling need
a Rasa that starts in a second, not the trained model (a minute, 2 GB).
"""
