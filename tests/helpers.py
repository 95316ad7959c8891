import torch


def randomize(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random values in every parameter, norms included, so a wrong mapping cannot hide."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            scale = 0.1 if "ln" in name or "layer_norm" in name else 0.05
            p.add_(torch.randn(p.shape, generator=generator) * scale)
    return model
