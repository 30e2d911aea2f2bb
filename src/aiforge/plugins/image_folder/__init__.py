"""Your own images: a folder with one subfolder per class (torchvision's ImageFolder layout)."""
