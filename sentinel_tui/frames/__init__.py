"""Frames: readers, embedder, embedding drift, image statistics and the frame reference."""
