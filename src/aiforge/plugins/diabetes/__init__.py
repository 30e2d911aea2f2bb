"""scikit-learn's Diabetes progression (442 rows, 10 features, regression target)."""
