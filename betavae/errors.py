"""User-facing errors: one line that names the problem and the fix."""


class BetaVAEError(Exception):
    """A mistake in the user's input (file, option, config, data).

    The CLI prints ``error: <message>`` and exits with status 2; no traceback.
    The message should say what is wrong *and* what to do about it.
    """


class DivergedError(BetaVAEError):
    """Training produced a non-finite loss; the run is marked as diverged."""


class StoppedByUser(BetaVAEError):
    """Ctrl-C: the work was stopped cleanly (checkpoint written); running the same command again continues it."""
