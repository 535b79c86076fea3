"""DeFlow (Wolf et al., CVPR 2021), the degradation-learning family: invertible layers, the flow net, the conditioning
encoder, the domain-invariant functions h and `DeFlowModel` (deflow_model.py)."""
from deflow.flow.actnorm import ActNorm
from deflow.flow.base import FlowSequence, InvertibleLayer
from deflow.flow.coupling import CondAffineCoupling
from deflow.flow.debug import first_nonfinite_layer
from deflow.flow.deflow_net import NLL, DeFlowNet
from deflow.flow.encoder import ConditionEncoder
from deflow.flow.flownet import ConditionalFlowNet, flow_size_multiple
from deflow.flow.h import BicubicNoise
from deflow.flow.injector import CondAffineInjector
from deflow.flow.invconv import InvConv1x1
from deflow.flow.shift import DomainShift
from deflow.flow.split import Split
from deflow.flow.squeeze import Squeeze
from deflow.flow.step import FlowStep

__all__ = ["ActNorm", "BicubicNoise", "CondAffineCoupling", "CondAffineInjector", "ConditionEncoder",
           "ConditionalFlowNet", "DeFlowNet", "DomainShift", "FlowSequence", "FlowStep", "InvConv1x1",
           "InvertibleLayer", "NLL", "Split", "Squeeze", "first_nonfinite_layer", "flow_size_multiple"]
