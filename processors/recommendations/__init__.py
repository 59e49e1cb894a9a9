"""Daily recommendations: a scheduled, point-in-time job over daily bars (issue #22)."""

from processors.recommendations.config import RecommendationsConfig
from processors.recommendations.pipeline import InProcessRecommendations, recommendation_pipelines

__all__ = ["InProcessRecommendations", "RecommendationsConfig", "recommendation_pipelines"]
