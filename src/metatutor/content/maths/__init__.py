"""The built-in middle-school course's templates, one module per topic (importing registers them)."""

from metatutor.content.maths import arithmetic, decimals, equations, expressions, fractions, ratios

__all__ = ["arithmetic", "decimals", "equations", "expressions", "fractions", "ratios"]
