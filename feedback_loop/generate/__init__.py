"""Generating datasets at scale on Ray Data."""
