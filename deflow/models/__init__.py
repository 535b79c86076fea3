"""Model types: what the trainer drives (networks, losses, validation); architectures live in archs/."""
