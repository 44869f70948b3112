"""`ims-core lab`: the supervisor of the four nodes, as a real process."""
