"""scikit-learn's digits rendered as a folder of PNG files, then read as an image folder."""
