"""The errors a user can cause, each with a message written for that user. Anything else is a bug."""
from __future__ import annotations


class TranslatorError(Exception):
    """Base of every error the core raises on purpose: catch this to tell user mistakes from bugs."""


class ImageError(TranslatorError, ValueError):
    """The input is not an image we can use (not an image, damaged, too large, wrong shape)."""


class OptionsError(TranslatorError, ValueError):
    """A direction or a `translate` option the model does not take, or a value out of range."""


class WeightsNotFoundError(TranslatorError, LookupError):
    """No usable weights for the name asked for; the message says what was tried and what to do."""


class WeightsError(TranslatorError, ValueError):
    """Weights were found but cannot be used here: damaged, unknown family, wrong shapes, or another
    family than the one asked for."""
