"""How student code runs: the parent's side (:mod:`.parent`) and the child's (:mod:`.jail`, then :mod:`.harness`)."""
