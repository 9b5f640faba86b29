"""Evaluation of colorization: metrics (:mod:`.metrics`) and ``tinct evaluate`` (:mod:`.run`)."""
