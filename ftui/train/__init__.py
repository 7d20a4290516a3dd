"""Training: run configs, base models, label masking, the Trainer + peft run, the worker."""
