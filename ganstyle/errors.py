"""Errors shared by all stages."""


class UserError(Exception):
    """Bad input the user can fix.

    The message names the offending file or config key; the CLI prints it as
    one line without a traceback and exits with status 1.
    """
