"""Any torchvision classification model by name (``model_plugin: torchvision_model``), offline."""
