"""What is checked: the shared judging code (:mod:`.base`) and one module per group of functions."""
