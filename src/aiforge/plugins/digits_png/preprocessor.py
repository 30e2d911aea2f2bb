"""The image Preprocessor of ``image_folder``: pixels scaled and normalised per channel."""

from aiforge.plugins.image_folder.preprocessor import Preprocessor

__all__ = ["Preprocessor"]
