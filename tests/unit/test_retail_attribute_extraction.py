"""Attribute extraction errors found on real catalogues (session 18), each a general rule: a colour word
the brand spells, a publisher's catalogue number in a brandless title, a brand field that adds a
division's or a company form's words to a known brand.

The titles are written by hand in the style of real retail listings; none is copied from the public
benchmark data sets.
"""

from __future__ import annotations

import pytest

from processors.retail.attributes import parse_listing


@pytest.mark.parametrize(
    ("title", "brand_field", "brand", "color", "line"),
    [
        # the brand written apart in the title, together in the field (or the lexicon)
        (
            "Blue Lounge Design Cable Organizer Box - White",
            "Bluelounge",
            "bluelounge",
            "blanco",
            "design cable organizer box",
        ),
        ("Blue Lounge Cable Organizer", "Blue Lounge", "blue lounge", None, "cable organizer"),
        # the field's own words
        ("Red Hat Enterprise Server 6 Standard", "Red Hat", "red hat", None, "enterprise server 6 standard"),
        (
            "Green Mountain Coffee Dark Roast K-Cups 24 Count",
            "Green Mountain Coffee",
            "green mountain coffee",
            None,
            "dark roast k cups",
        ),
        # a brand the lexicon knows, and the product's own colour after it
        ("Black & Decker 20V Cordless Drill Green", "Black & Decker", "black+decker", "verde", "20v cordless drill"),
        # no brand: the colour word is read as a colour (nothing says it is a brand's)
        ("Blue Lounge Cable Organizer", None, None, "azul", "lounge cable organizer"),
    ],
)
def test_a_colour_word_the_brand_spells_is_not_the_colour(
    title: str, brand_field: str | None, brand: str | None, color: str | None, line: str
) -> None:
    a = parse_listing(title, brand_field)
    assert (a.brand, a.color, a.product_line) == (brand, color, line)


@pytest.mark.parametrize(
    ("title", "brand_field", "model"),
    [
        # brandless: a publisher's word and its catalogue number name no model; the first name word does
        ("mindware publishing 40517 chess tutor deluxe", None, "mindware"),
        ("gameworks interactive 77120", None, "gameworks"),
        # a later word with a digit still wins
        ("mindware publishing 40517 chess tutor 3", None, "tutor3"),
        # a brand known: the catalogue number keeps the word before it, as before
        ("mindware publishing 40517 chess tutor deluxe", "Mindware", "publishing40517"),
        # after one word only: the number is the model's ("Altus 011350"), as before
        ("frostline 011350 no frost", None, "frostline011350"),
        # only the catalogue number: it is the key
        ("40517", None, "40517"),
    ],
)
def test_a_brandless_catalogue_number_is_no_model_key(title: str, brand_field: str | None, model: str) -> None:
    assert parse_listing(title, brand_field).model == model


@pytest.mark.parametrize(
    ("field", "brand"),
    [
        ("Microsoft Licenses", "microsoft"),
        ("Apple Software", "apple"),
        ("Microsoft", "microsoft"),
        # another known brand after the first: a joint name, kept whole
        ("Sony Samsung", "sony samsung"),
        # no known brand first: the field as written
        ("Mindware Publishing", "mindware publishing"),
    ],
)
def test_a_brand_field_led_by_a_known_brand_names_that_brand(field: str, brand: str) -> None:
    assert parse_listing("Widget 3000 Pro", field).brand == brand
