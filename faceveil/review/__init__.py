"""faceveil review: a local web page to check, fix and write the faces (docs/review.md)."""
