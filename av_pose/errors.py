"""Exceptions that carry a message meant for the user (the CLI prints them as one line)."""


class UserInputError(ValueError):
    """Input a user gave (a file, an option, a configuration) that cannot be used as given."""
