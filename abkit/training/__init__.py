"""Training: domain adaptation (causal LM) then template-classifier fine-tuning."""
