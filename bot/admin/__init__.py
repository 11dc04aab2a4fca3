"""The staff side: a JSON API (and, later, pages) over the conversation store."""
