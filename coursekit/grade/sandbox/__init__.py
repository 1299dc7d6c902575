"""How student code runs: the parent's side (:mod:`.parent`; :mod:`.isolation` = bubblewrap or the
degraded mode, :mod:`.cgroups`, :mod:`.staging`; :mod:`.watch` of the tree and the disk, :mod:`.processes`;
:mod:`.registry` and :mod:`.owners` for what must not outlive a grade; :mod:`.replies` and
:mod:`.untrusted` for what comes back; :mod:`.protections` for the report) and the child's (:mod:`.harness`)."""
