"""The seed's feed-forward network, and its synthetic (learnable) classification set."""
