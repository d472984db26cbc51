"""The spec's ``torch`` modules: ``train``, ``predict``, ``tensor_augment`` (and ``models``).

Importing any of them imports torch.
"""
