"""Evaluation: sample statistics (FID/KID/IS), feature networks and mode counts."""
