"""Measurements of the engine, outside it: answer quality on labelled question sets (`evaluate`),
retrieval on BEIR datasets beside txtai (`beir`), and speed and memory at several sizes (`speed`)."""
