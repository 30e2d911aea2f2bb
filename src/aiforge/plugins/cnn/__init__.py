"""A small convolutional network for image classification (``model_plugin: cnn``)."""
