"""The trainers' side: a review inbox of what the assistant should learn from,
redaction before anything is stored for training, the round-trip writer of
``data/nlu.yml``, and the gate that says whether a change made the model better.
"""
