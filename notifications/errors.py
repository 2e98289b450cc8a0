class DeliveryError(Exception):
    """A message could not be handed to its provider. `permanent` says whether trying again can help.

    The text is stored on the message row (`last_error`) and shown to staff, so it never carries a
    secret: no API keys, passwords or tokens.
    """

    def __init__(self, message: str, permanent: bool = False):
        super().__init__(message)
        self.message = message
        self.permanent = permanent

    def __str__(self):
        return self.message


class SmsError(DeliveryError):
    """The SMS provider refused or could not take a message."""


class EmailError(DeliveryError):
    """The mail server refused or could not take a message."""
