"""scikit-learn's 8x8 images of handwritten digits (1,797 rows, 64 features, 10 classes)."""
