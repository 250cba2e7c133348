"""The classifier recipe the harness owns: settings, backbones, losses, samplers, training loop."""
