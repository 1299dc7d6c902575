"""The grader checked against known mistakes: the catalogue (:mod:`.catalogue`, from
``autograder/mistakes.toml``) and ``coursekit check`` (:mod:`.run`)."""
