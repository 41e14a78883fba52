"""Errors every distillation method raises the same way."""


class NonFiniteError(ValueError):
    """The loss or the synthetic images of a run stopped being finite numbers."""
