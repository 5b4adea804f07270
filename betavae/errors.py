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


class DiskFullError(BetaVAEError):
    """A file could not be written for lack of space; its previous content (if any) is kept.

    ``problem`` names the file and the space it needs, ``fix`` what to do; a caller that knows a better fix (the
    training loop: resume from the checkpoint that was kept) puts its own after ``problem``."""

    def __init__(self, problem: str, fix: str):
        super().__init__(f"{problem}; {fix}")
        self.problem, self.fix = problem, fix
