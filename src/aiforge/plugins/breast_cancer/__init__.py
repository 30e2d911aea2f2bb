"""scikit-learn's Breast cancer Wisconsin (569 rows, 30 features, 2 classes)."""
