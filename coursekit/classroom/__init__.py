"""Grading a class: many submissions in parallel (:mod:`.batch`), their ``results.json``
(:mod:`.results`) and class-wide files (:mod:`.summary`), nbgrader's gradebook
(:mod:`.gradebook`) and the Gradescope bundle (:mod:`.gradescope`)."""
