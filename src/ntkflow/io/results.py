"""Old import path of the result writers, now in :mod:`.atomic`."""

from .atomic import figure, to_jsonable, write_json  # noqa: F401
