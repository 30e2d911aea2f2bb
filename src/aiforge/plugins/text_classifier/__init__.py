"""A text classifier: token embeddings, a bag / convolution / GRU encoder, and a linear head."""
