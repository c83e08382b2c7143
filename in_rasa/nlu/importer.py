"""Training data importer that reads rules with the retrieval intents known.

Rasa 3.6 adds retrieval intents (``product_question``) to the domain from the
NLU data, and warns about a duplicate when domain.yml lists them too; but it
reads stories and rules with domain.yml alone, and warns about an unknown
intent when domain.yml does not list them. So domain.yml leaves them out,
and this importer reads stories, rules and test stories with them added.
"""

from __future__ import annotations

from rasa.shared.core.domain import Domain
from rasa.shared.core.training_data.structures import StoryGraph
from rasa.shared.importers import utils
from rasa.shared.importers.rasa import RasaFileImporter


class CareImporter(RasaFileImporter):
    """The default file importer, with retrieval intents known to the story reader."""

    def _story_domain(self) -> Domain:
        domain = self.get_domain()
        missing = sorted(set(self.get_nlu_data().retrieval_intents) - set(domain.intents))
        if not missing:
            return domain
        return domain.merge(Domain.from_dict({"intents": missing}))

    def get_stories(self, exclusion_percentage: int | None = None) -> StoryGraph:
        """Stories and rules, read with the retrieval intents in the domain."""
        return utils.story_graph_from_paths(
            self._story_files, self._story_domain(), exclusion_percentage
        )

    def get_conversation_tests(self) -> StoryGraph:
        """Test stories, read with the retrieval intents in the domain."""
        return utils.story_graph_from_paths(self._conversation_test_files, self._story_domain())
