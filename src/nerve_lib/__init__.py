"""Python client for the registry API of a Nerve Management System (MS).

Drop-in compatible with the public ``nerve_lib`` package for the MS handle and
the internal registry::

    from nerve_lib import InternalRegistry, MSHandle

    with MSHandle("ms.example", "admin", "secret") as ms:
        print(InternalRegistry(ms).get_image_tags("team/app"))

Credentials may also come from MS_USR and MS_PSW, and the log level from
LOGGING_LEVEL.
"""

from ._errors import CheckStatusCodeError
from ._handle import MSHandle
from ._logging import setup_logging
from .manage_registry import InternalRegistry

__all__ = ["CheckStatusCodeError", "InternalRegistry", "MSHandle", "setup_logging"]
