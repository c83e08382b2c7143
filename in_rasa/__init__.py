"""The code that runs inside the Rasa server.

Rasa imports it by the names ``config.yml`` and ``credentials.yml`` give:
``nlu/`` holds our NLU components (each name is recorded in a trained model,
so renaming one retrains it), ``bridge.py`` the gateway's input channel. It
imports nothing of the gateway's, nor the gateway it (tests/test_layers.py);
what both sides share lives in ``bot/contract.py``.
"""
