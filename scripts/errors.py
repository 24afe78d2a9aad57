"""The one exception type for expected user-facing failures."""


class UserError(Exception):
    """Bad input or a missing tool; the message is one line naming the value and the fix."""
