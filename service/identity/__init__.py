"""Who is on screen: face quality, identity embeddings, and characters grouped online across shots."""
