"""scikit-learn's Iris flowers (150 rows, 4 features, 3 classes)."""
