"""asag: teachers' scores of short answers into datasets, and datasets into BERT scorers."""

__version__ = "0.1.0"
