"""Training: config merge, the loop (AdamW, warm-up + cosine, AMP, resume), distributed set-up, one module per stage."""
