"""The QLoRA training stage: memory plan, tokenised examples, the training run."""
