"""Built-in assessors: relevance of a requirement to a collection from its importance list."""
