"""The torch device a command runs on, from its --device flag."""
import torch

from deflow.errors import UserError


def pick_device(choice: str = "auto", flag: str = "--device") -> torch.device:
    """auto: CUDA when present, else the CPU; else a torch device name (cpu, cuda, cuda:1, ...), checked to exist."""
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(choice)
    except (RuntimeError, ValueError):
        raise UserError(f"{flag} {choice}: not a device; use auto, cpu or cuda[:N]") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError(f"{flag} {choice}: CUDA is not available on this machine; use --device cpu")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise UserError(f"{flag} {choice}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return device
