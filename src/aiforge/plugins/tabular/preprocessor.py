"""Encoding of the table's columns, fitted on the training split (imputation, scaling, categories)."""

from aiforge.plugins.tabular.encoding import TableEncoder as Preprocessor

__all__ = ["Preprocessor"]
