"""Use-cases: the verbs of opso (split, label, train, predict, localize, ...), built on ports."""
