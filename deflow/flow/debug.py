"""Finding where a forward pass first produces NaN or Inf."""
import torch
from torch import nn


def _tensors(output):
    if isinstance(output, torch.Tensor):
        yield output
    elif isinstance(output, (tuple, list)):
        for item in output:
            yield from _tensors(item)
    elif isinstance(output, dict):
        for item in output.values():
            yield from _tensors(item)


def first_nonfinite_layer(net: nn.Module, fn, *args, **kwargs) -> str | None:
    """Run fn(*args, **kwargs) with a forward hook on every submodule of net; return the qualified name
    of the first module whose output holds a NaN or Inf, or None. Hooks fire when a module returns, so
    the name is the innermost module that produced it. The hooks exist only during this call.

        first_nonfinite_layer(net, net.nll, gt, lq, label)  # e.g. 'flow.level2.step7.coupling.net.4.conv'
    """
    found: list[str] = []

    def hook_for(name):
        def check(module, inputs, output):
            if not found and any(not torch.isfinite(t).all() for t in _tensors(output)):
                found.append(name)
        return check

    handles = [module.register_forward_hook(hook_for(name)) for name, module in net.named_modules() if name]
    try:
        fn(*args, **kwargs)
    finally:
        for handle in handles:
            handle.remove()
    return found[0] if found else None
