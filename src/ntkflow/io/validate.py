"""Old import path of the input checks, now in :mod:`.config`."""

from .config import InputError, check_choice, check_memory, check_number  # noqa: F401
