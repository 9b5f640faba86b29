"""Colorization methods: CNN (``eccv16``, ``siggraph17``, ``auto``), scribble, patch database, exemplar."""
