"""scikit-learn's Wine cultivars (178 rows, 13 features, 3 classes)."""
