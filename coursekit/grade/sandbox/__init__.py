"""How student code runs: the parent's side (:mod:`.parent`, :mod:`.isolation` = bubblewrap, :mod:`.cgroups`,
:mod:`.untrusted` for what comes back) and the child's (:mod:`.harness`)."""
