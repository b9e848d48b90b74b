"""Documents, retrieval and answers for qabot. Never imports discord; heavy modules load lazily."""

__version__ = "0.1.0"
