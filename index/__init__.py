"""chidao's indexing pipeline: load, normalise, chunk, embed and store Vietnamese directives."""
