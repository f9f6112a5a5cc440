"""The one exception a user can cause; the CLI prints its message and exits 2."""


class RetouchError(Exception):
    """A problem with the user's input or request, phrased as what to do about it."""
