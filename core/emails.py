"""One spelling per email address, wherever addresses are stored, compared or counted.

An address is compared as Unicode's NFKC_Casefold form: `BOB@sec.teſt` (long s), `ｂｏｂ＠ｓｅｃ．ｔｅｓｔ`
(fullwidth) and `bob@sec.test` are one address. Without it a look-alike spelling counts its own failed logins
(a lockout sidestepped) while PostgreSQL's case-insensitive lookup still finds the account by it.

For the ASCII addresses stored so far this is plain lower case, which is what they are stored as already.
"""

from __future__ import annotations

import unicodedata

from django import forms
from rest_framework import serializers

MAX_LENGTH = 254


def normalise_email(value: object) -> str:
    """The address in NFKC_Casefold form, stripped; "" for anything that is not text."""
    if not isinstance(value, str):
        return ""
    # NFKC again after casefold: folding can produce sequences that compose differently (Unicode's
    # NFKC_Casefold is defined as this round trip).
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", value).casefold())
    return folded.strip()


class NormalisedEmailField(forms.EmailField):
    """A form's email field that validates and returns the normalised address (a fullwidth `＠` passes)."""

    def to_python(self, value):
        return normalise_email(super().to_python(value))


class NormalisedEmailSerializerField(serializers.EmailField):
    """The API's email field, normalised before it is validated, as the web's."""

    def to_internal_value(self, data):
        if isinstance(data, str):
            data = normalise_email(data)
        return super().to_internal_value(data)
