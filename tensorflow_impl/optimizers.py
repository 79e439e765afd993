"""Optimisers from the spec, as Keras 3 optimisers with PyTorch's epsilon placement.

Keras' own Adam adds epsilon to ``sqrt(v)`` before the bias correction of ``v`` and its RMSprop puts
epsilon inside the square root (PARITY-NOTES §4); with small gradients, as a WGAN critic has, that moves
weights by a different amount. These subclasses implement the updates of ``torch.optim.Adam`` and
``torch.optim.RMSprop`` as one pure function each (``update``), in backend-neutral ``keras.ops``, used
both by the stateful ``apply`` and by ``stateless_apply``. Keras' TensorFlow optimiser refuses
``stateless_apply`` (it routes updates through ``tf.distribute``), so it is implemented here for every
backend: the training step is the same pure function on TensorFlow and JAX. ``weight_decay`` is PyTorch's
coupled L2 term (added to the gradient), not Keras' decoupled decay. A spec's ``schedule`` (step decay) sets
the learning rate of update ``t`` (the optimiser's iterations before it) as ``StepDecay`` states, inside the
compiled step.
"""
from __future__ import annotations

import keras
from keras import ops

from benchmark.spec import Optimizer, StepDecay


class TorchOptimizer(keras.optimizers.Optimizer):
    """Base: per-parameter slots named by ``SLOTS`` and a pure ``update(param, grad, slots, step)``."""

    SLOTS: tuple[str, ...] = ()

    def __init__(self, learning_rate: float, weight_decay: float = 0.0, schedule: StepDecay | None = None,
                 **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.lr, self.l2, self.schedule = float(learning_rate), weight_decay, schedule

    def rate(self, step, dtype):
        """The learning rate of update ``step`` (counted from 1, a tensor of ``dtype``): ``lr * factor ** ((step
        - 1) // every)``, the factor a tensor in ``dtype`` (a Python float cast goes through float32 on TF)."""
        if self.schedule is None:
            return self.lr
        decays = ops.floor((step - 1) / self.schedule.every)
        return self.lr * ops.power(ops.convert_to_tensor(self.schedule.factor, dtype), decays)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._slots = {name: self.add_optimizer_variables(var_list, name) for name in self.SLOTS}

    def update(self, param, grad, slots: dict, step) -> tuple:
        """One update of one parameter: returns the new parameter value and the new slot values."""
        raise NotImplementedError

    def update_step(self, gradient, variable, learning_rate):
        index = self._get_variable_index(variable)
        slots = {name: self._slots[name][index] for name in self.SLOTS}
        value = ops.convert_to_tensor(variable)  # a keras.Variable, or a tf.Variable inside TensorFlow's apply
        step = ops.cast(self.iterations + 1, value.dtype)
        param, values = self.update(value, ops.cast(gradient, value.dtype),
                                    {name: ops.convert_to_tensor(slot) for name, slot in slots.items()}, step)
        for name, slot in slots.items():
            self.assign(slot, values[name])
        self.assign(variable, param)

    def stateless_apply(self, optimizer_variables, grads, trainable_variables):
        """Pure: (optimizer values, gradients, parameter values) -> (new parameter values, new optimizer values)."""
        position = {id(variable): i for i, variable in enumerate(self.variables)}
        optimizer_variables = list(optimizer_variables)
        iterations = optimizer_variables[position[id(self._iterations)]]
        new_params = []
        for index, (param, grad) in enumerate(zip(trainable_variables, grads)):
            slot_positions = {name: position[id(self._slots[name][index])] for name in self.SLOTS}
            step = ops.cast(iterations + 1, param.dtype)
            param, values = self.update(param, ops.cast(grad, param.dtype),
                                        {name: optimizer_variables[i] for name, i in slot_positions.items()}, step)
            for name, i in slot_positions.items():
                optimizer_variables[i] = values[name]
            new_params.append(param)
        optimizer_variables[position[id(self._iterations)]] = iterations + 1
        return new_params, optimizer_variables


class Adam(TorchOptimizer):
    """``torch.optim.Adam``: m = m + (1 - beta1)(g - m); v = beta2 v + (1 - beta2) g^2;
    p -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)."""

    SLOTS = ("momentum", "velocity")

    def __init__(self, learning_rate: float, beta_1: float, beta_2: float, epsilon: float,
                 weight_decay: float = 0.0, name: str = "torch_adam", **kwargs):
        super().__init__(learning_rate, weight_decay, name=name, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon

    def update(self, param, grad, slots, step):
        if self.l2:
            grad = grad + self.l2 * param
        m = slots["momentum"] + (1 - self.beta_1) * (grad - slots["momentum"])
        v = slots["velocity"] * self.beta_2 + (1 - self.beta_2) * grad * grad
        # The betas become tensors in the parameter's precision directly: a cast of a Python float goes through
        # float32 on TensorFlow, and 0.999 in float32 puts a 1.3e-5 relative error on 1 - beta2.
        bias_correction1 = 1 - ops.power(ops.convert_to_tensor(self.beta_1, param.dtype), step)
        bias_correction2 = 1 - ops.power(ops.convert_to_tensor(self.beta_2, param.dtype), step)
        denominator = ops.sqrt(v) / ops.sqrt(bias_correction2) + self.epsilon
        lr = self.rate(step, param.dtype)
        return param - (lr / bias_correction1) * m / denominator, {"momentum": m, "velocity": v}

    def get_config(self):
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                "weight_decay": self.l2}


class RMSprop(TorchOptimizer):
    """``torch.optim.RMSprop``: v = rho v + (1 - rho) g^2; p -= lr g / (sqrt(v) + eps); ``centered`` subtracts
    the squared running mean of g inside the root, ``momentum`` accumulates g / (sqrt(v) + eps)."""

    def __init__(self, learning_rate: float, rho: float, epsilon: float, momentum: float = 0.0,
                 centered: bool = False, weight_decay: float = 0.0, name: str = "torch_rmsprop", **kwargs):
        super().__init__(learning_rate, weight_decay, name=name, **kwargs)
        self.SLOTS = ("square_average",) + (("grad_average",) if centered else ()) + (("buffer",) if momentum else ())
        self.rho, self.epsilon, self.momentum, self.centered = rho, epsilon, momentum, centered

    def update(self, param, grad, slots, step):
        if self.l2:
            grad = grad + self.l2 * param
        new = {"square_average": slots["square_average"] * self.rho + (1 - self.rho) * grad * grad}
        mean_square = new["square_average"]
        if self.centered:
            new["grad_average"] = slots["grad_average"] + (1 - self.rho) * (grad - slots["grad_average"])
            mean_square = mean_square - new["grad_average"] ** 2
        denominator = ops.sqrt(mean_square) + self.epsilon
        lr = self.rate(step, param.dtype)
        if self.momentum:
            new["buffer"] = slots["buffer"] * self.momentum + grad / denominator
            return param - lr * new["buffer"], new
        return param - lr * grad / denominator, new

    def get_config(self):
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon, "momentum": self.momentum,
                "centered": self.centered, "weight_decay": self.l2}


OPTIMIZERS = {
    "adam": lambda o: Adam(o.lr, beta_1=o.beta1, beta_2=o.beta2, epsilon=o.eps, weight_decay=o.weight_decay,
                           schedule=o.schedule),
    "rmsprop": lambda o: RMSprop(o.lr, rho=o.rho, epsilon=o.eps, momentum=o.momentum, centered=o.centered,
                                 weight_decay=o.weight_decay, schedule=o.schedule),
}


def build_optimizer(variables: list, spec: Optimizer) -> keras.optimizers.Optimizer:
    """The spec's optimiser, built (its slots created) for ``variables``."""
    optimizer = OPTIMIZERS[spec.name](spec)
    optimizer.build(variables)
    return optimizer
