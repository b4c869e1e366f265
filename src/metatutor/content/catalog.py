"""The catalogue of templates: the registry filled with the built-in course's templates, and the items
they generate. (The template base and `register` live in `templates`; the course's templates import it,
and this module imports them, so registering needs no import cycle.)"""

from __future__ import annotations

from collections.abc import Iterator

import metatutor.content.maths  # noqa: F401  (registers the built-in templates)
from metatutor.content.items import Item
from metatutor.content.templates import GENERATED_ID, REGISTRY, Template
from metatutor.errors import InvalidContentError, shorten


def templates() -> Iterator[Template]:
    """Every registered template, the built-in course's included."""
    yield from REGISTRY.values()


def template(template_id: str) -> Template:
    if template_id not in REGISTRY:
        raise InvalidContentError([f"unknown template '{shorten(template_id)}'"])
    return REGISTRY[template_id]


def is_generated(item_id: str) -> bool:
    """Whether an id has the shape of a generated item's (`template:6 hex digits`) and names a template."""
    match = GENERATED_ID.match(item_id)
    return bool(match) and match.group(1) in REGISTRY  # type: ignore[union-attr]


def generate(item_id: str) -> Item:
    """The generated item with this id, rebuilt from the id alone.

    Example:
        >>> generate("frac-add-unlike:3f2a9c").id
        'frac-add-unlike:3f2a9c'
    """
    match = GENERATED_ID.match(item_id)
    if not match:
        raise InvalidContentError([f"item '{shorten(item_id)}': not a generated item id (template:six hex digits)"])
    return template(match.group(1)).make(int(match.group(2), 16))
