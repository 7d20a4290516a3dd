"""Errors a user can cause. Each carries the cause and the fix, shown as one message."""


class FtuiError(Exception):
    """A failure the user can act on: `str(err)` names the cause, `hint` the fix."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  fix: {self.hint}" if self.hint else self.message


class StoreError(FtuiError):
    """The store cannot be opened or used."""


class ImportFormatError(FtuiError):
    """A whole file cannot be imported (unknown shape, preference data, unreadable)."""
