"""Errors raised by the Spark jobs (no dependency on the ``carrental`` package)."""

from __future__ import annotations


class InputFileError(Exception):
    """A file-level input problem: the run stops before any output is touched (exit 3)."""

    def __init__(
        self,
        dataset: str,
        file: str | None,
        column: str | None,
        expected: str,
        problem: str,
    ):
        self.dataset = dataset
        self.file = file
        self.column = column
        self.expected = expected
        self.problem = problem
        where = f"dataset {dataset!r}"
        if file:
            where += f", file {file!r}"
        if column:
            where += f", column {column!r}"
        super().__init__(f"{where}: {problem} (expected {expected})")

    def as_dict(self) -> dict:
        return {
            "type": type(self).__name__,
            "message": str(self),
            "dataset": self.dataset,
            "file": self.file,
            "column": self.column,
        }


class ReconciliationError(Exception):
    """rows_read != valid + rejected for some dataset."""


class NoValidRentalsError(Exception):
    """Zero valid rentals is an error, not an empty success."""


class HandoverError(Exception):
    """A KPI job run with ``--inputs validated`` found no usable validated inputs of its run."""
