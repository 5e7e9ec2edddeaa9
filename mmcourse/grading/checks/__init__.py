"""One module per notebook, each registering the checkers of that notebook's exercises."""
