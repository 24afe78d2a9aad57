"""Experiments run on the golden models: fixed-point training on scikit-learn's digits and the
write-elimination study behind ``crosstrain writes``."""
