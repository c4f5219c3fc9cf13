"""The error that the client raises for an unexpected HTTP status.

What the client raises, by kind:

    CheckStatusCodeError      the MS responded with a status the call does not accept,
                              including a rejected login (403 or 401)
    ValueError, TypeError     caller misuse: an invalid MS URL or a bad argument type or
                              value, raised before anything is sent, or missing
                              credentials, raised when a login is needed
    requests.ConnectTimeout,  a request timed out twice, because the first connect or
    requests.ReadTimeout      read timeout is retried once
    other requests errors     connection failures, or requests.JSONDecodeError for a body
                              that is not JSON, passed through unchanged so that existing
                              ``except requests...`` clauses keep working
    RuntimeError              a 200 response whose body breaks the registry API contract,
                              such as a JSON list where an object belongs
"""

from __future__ import annotations


class CheckStatusCodeError(Exception):
    """The MS responded with a status code that the call does not accept.

    ``str(error)`` and ``value`` are the message, which names the method, URL,
    status code and reason and includes the start of the response body.
    ``status_code`` is the status received and ``response_text`` the whole body
    (empty for 204).
    """

    def __init__(self, message: str, status_code: int, response_text: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.value = message
        self.response_text = response_text

    def __reduce__(self) -> tuple[type[CheckStatusCodeError], tuple[str, int, str]]:
        # Exception pickles only ``args`` (the message), which __init__ cannot take alone.
        return (type(self), (self.value, self.status_code, self.response_text))
