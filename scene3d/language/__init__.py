"""Language from scene graphs: unique referrals, captions, paraphrases."""

from scene3d.language.generate import LanguageConfig, format_stats, generate_language, language_stats
from scene3d.language.paraphrase import Seq2SeqParaphraser
from scene3d.language.program import ObjectRef, RelationClause, evaluate

__all__ = ["LanguageConfig", "ObjectRef", "RelationClause", "Seq2SeqParaphraser", "evaluate", "format_stats",
           "generate_language", "language_stats"]
