"""The retail listings of the day: the catalog, how each retailer names things, the crawls."""
