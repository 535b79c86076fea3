"""deflow: learn camera degradations from unpaired images (DeFlow) and train SR models that undo them."""
from deflow.errors import UserError

__version__ = "0.1.0"
__all__ = ["UserError", "__version__"]
