"""Federated learning: clients that keep their archives (:mod:`.partition`), algorithms as client hook +
server aggregation pairs (:mod:`.algorithms`), an in-process simulator (:mod:`.simulate`)."""
