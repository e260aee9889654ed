"""The machine as data: the frozen Inventory model, what-ifs, GPU visibility, the card index and bandwidths."""
