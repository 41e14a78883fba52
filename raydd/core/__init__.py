"""Plain PyTorch layer: datasets, architectures, distillation, evaluation. No Ray here."""
