"""SSL methods: heads, losses and teacher updates (DINO)."""
