"""Named errors the services raise and the views translate into messages.

Messages are English source strings marked for extraction; the web layer passes them through
gettext, so the domain stays free of Flask.
"""

from __future__ import annotations


def N_(message: str) -> str:  # noqa: N802 - the conventional gettext no-op marker
    return message


class Msg(str):
    """An English message with its parameters: reads as the filled-in English text, and keeps
    the template so the web layer can translate it first and fill it in after."""

    template: str
    params: dict[str, object]

    def __new__(cls, template: str, **params: object) -> Msg:
        message = super().__new__(cls, template % params if params else template)
        message.template = template
        message.params = params
        return message


class ServiceError(Exception):
    message = N_("The request could not be carried out.")

    def __init__(self, message: str | None = None, **params: object) -> None:
        super().__init__(message or self.message)
        if message:
            self.message = message
        self.params = params


class NotFound(ServiceError):
    message = N_("Not found.")


class Forbidden(ServiceError):
    message = N_("You may not do that.")


class Conflict(ServiceError):
    """Someone else changed the record since the form was loaded."""

    message = N_("Someone else changed this record while you were editing it. Your changes were not saved: reload and apply them again.")


class FieldErrors(ServiceError):
    """Input refused field by field; nothing was changed."""

    message = N_("Please correct the errors below.")

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__()
        self.errors = errors
