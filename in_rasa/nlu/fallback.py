"""Rasa's fallback, for intents that share their handling (config.yml's ``intent_groups``)."""

from __future__ import annotations

from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.classifiers.fallback_classifier import FallbackClassifier
from rasa.shared.nlu.constants import INTENT, INTENT_NAME_KEY, INTENT_RANKING_KEY
from rasa.shared.nlu.training_data.message import Message

from bot.contract import INTENT_ALSO


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class GroupedFallbackClassifier(FallbackClassifier):
    """Rasa's FallbackClassifier, for intents that share their handling.

    "Is NW881 on time?" may be a status question or the start of a delay
    complaint; the model splits its confidence (0.62 / 0.38) and a plain
    threshold calls that unsure, though both intents lead to the same flight
    look-up. Here the confidences of the intents in ``intent_groups`` add up
    for the threshold, and the ambiguity check compares the top intent's
    group with the best intent outside it. The predicted intent stays the
    top one.

    Two intents close together are not a doubt when the post carries both:
    "NW881 delayed AGAIN, this is ridiculous" splits its confidence between
    the delay and the complaint, and the second-intent classifier says it is
    both (``intent_also``); the bot then acts on both. So the best intent
    outside the top group does not count against it when it is the post's
    second intent.

    Nor is a close runner-up a doubt when the top intent is one of
    ``person_intents``, intents a person takes (config.yml: a complaint and a
    request for a person, which go to ``action_handover``). Acting on one
    hands the customer to an agent, who can handle the runner-up's reading
    too; the fallback would ask a customer to rephrase first (or, for a
    public post, hand over all the same). That holds while the person intents'
    group leads every other group; the threshold still applies.
    """

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        """Rasa's defaults plus ``intent_groups`` (lists of intent names) and
        ``person_intents`` (intent names)."""
        return {
            **FallbackClassifier.get_default_config(),
            "intent_groups": [],
            "person_intents": [],
        }

    def _group_of(self, intent: str | None) -> set[str]:
        for group in self.component_config.get("intent_groups") or []:
            if intent in group:
                return set(group)
        return {intent} if intent else set()

    def _split(self, message: Message) -> tuple[float, float]:
        """Confidence of the top intent's group, and of the best intent outside it."""
        ranking = [
            r for r in message.data.get(INTENT_RANKING_KEY, []) if r.get("name") != "nlu_fallback"
        ]
        top = (message.data.get(INTENT) or {}).get(INTENT_NAME_KEY)
        group = self._group_of(top)
        inside = sum(float(r.get("confidence") or 0.0) for r in ranking if r.get("name") in group)
        second = (message.data.get(INTENT_ALSO) or {}).get("name")
        outside = max(
            (
                float(r.get("confidence") or 0.0)
                for r in ranking
                if r.get("name") not in group and r.get("name") != second
            ),
            default=0.0,
        )
        if not ranking:
            inside = float((message.data.get(INTENT) or {}).get("confidence") or 0.0)
        return inside, outside

    def _nlu_confidence_below_threshold(self, message: Message) -> tuple[bool, float]:
        inside, _outside = self._split(message)
        return inside < self.component_config["threshold"], inside

    def _leads(self, message: Message, top: str) -> bool:
        """Whether ``top``'s group has at least the confidence of every other group: a
        complaint at 0.30 against a delay at 0.29 and a status question at 0.20 is more
        a flight than a person, and stays a doubt."""
        sums: dict[frozenset[str], float] = {}
        for r in message.data.get(INTENT_RANKING_KEY, []):
            name = r.get("name")
            if name and name != "nlu_fallback":
                group = frozenset(self._group_of(name))
                sums[group] = sums.get(group, 0.0) + float(r.get("confidence") or 0.0)
        mine = sums.pop(frozenset(self._group_of(top)), 0.0)
        return mine >= max(sums.values(), default=0.0)

    def _nlu_prediction_ambiguous(self, message: Message) -> tuple[bool, float | None]:
        top = (message.data.get(INTENT) or {}).get(INTENT_NAME_KEY)
        person = self.component_config.get("person_intents") or []
        if isinstance(top, str) and top in person and self._leads(message, top):
            return False, None
        inside, outside = self._split(message)
        difference = inside - outside
        return difference < self.component_config["ambiguity_threshold"], difference
