"""Score student controllers against a teacher's recorded actions (the distillation kernel).

The teacher's observations are stored as one-hot active-input lists in CSR form: step ``s``
has inputs ``active[step_offsets[s]:step_offsets[s + 1]]``; episode ``e`` covers steps
``episode_offsets[e]:episode_offsets[e + 1]`` and starts from a zero hidden state. Every
student sees the teacher's observations (teacher forcing), so no environment is needed.
"""

import math

import numpy as np

from evosandbox.kernels._jit import jit, prange
from evosandbox.kernels.policies import network_step


@jit(parallel=True)
def imitation_scores(
    input_weights,
    hidden_bias,
    recurrent_weights,
    output_weights,
    output_bias,
    episode_offsets,
    step_offsets,
    active,
    rewards_in,
    reward_index,
    teacher_actions,
    cross_entropy_out,
    agreement_out,
):
    """Write each student's mean cross-entropy to the teacher's actions and its action agreement."""
    population = input_weights.shape[0]
    hidden_size = hidden_bias.shape[1]
    outputs = output_bias.shape[1]
    episodes = episode_offsets.shape[0] - 1
    steps = teacher_actions.shape[0]
    for p in prange(population):
        hidden = np.zeros(hidden_size, dtype=np.float32)
        pre = np.empty(hidden_size, dtype=np.float32)
        logits = np.empty(outputs, dtype=np.float32)
        total = 0.0
        agreed = 0
        for e in range(episodes):
            hidden[:] = 0.0
            for s in range(episode_offsets[e], episode_offsets[e + 1]):
                first = step_offsets[s]
                count = step_offsets[s + 1] - first
                action = network_step(
                    input_weights,
                    hidden_bias,
                    recurrent_weights,
                    output_weights,
                    output_bias,
                    p,
                    active[first : first + count],
                    count,
                    reward_index,
                    rewards_in[s],
                    hidden,
                    pre,
                    logits,
                )
                teacher = teacher_actions[s]
                if action == teacher:
                    agreed += 1
                largest = logits[0]
                for a in range(1, outputs):
                    largest = max(largest, logits[a])
                norm = 0.0
                for a in range(outputs):
                    norm += math.exp(logits[a] - largest)
                total += largest + math.log(norm) - logits[teacher]
        cross_entropy_out[p] = total / max(1, steps)
        agreement_out[p] = agreed / max(1, steps)


@jit
def imitation_gradient(
    input_weights,
    hidden_bias,
    recurrent_weights,
    output_weights,
    output_bias,
    episode_offsets,
    step_offsets,
    active,
    rewards_in,
    reward_index,
    teacher_actions,
    longest,
    grad_input,
    grad_hidden_bias,
    grad_recurrent,
    grad_output,
    grad_output_bias,
):
    """Return one controller's mean cross-entropy and write its gradient (backpropagation through time).

    The arrays are one controller's (no population axis); the gradient arrays are overwritten.
    The controller's squash is tanh to within 1e-4, so its derivative is taken as 1 - h**2.
    """
    hidden_size = hidden_bias.shape[0]
    outputs = output_bias.shape[0]
    recurrent = recurrent_weights.shape[0] > 0
    steps = teacher_actions.shape[0]
    grad_input[:] = 0.0
    grad_hidden_bias[:] = 0.0
    grad_recurrent[:] = 0.0
    grad_output[:] = 0.0
    grad_output_bias[:] = 0.0
    states = np.zeros((longest + 1, hidden_size))  # states[t + 1] is the hidden state after step t
    probabilities = np.zeros((longest, outputs))
    logits = np.empty(outputs)
    carried = np.empty(hidden_size)
    delta = np.empty(hidden_size)
    total = 0.0
    for e in range(episode_offsets.shape[0] - 1):
        first_step = episode_offsets[e]
        length = episode_offsets[e + 1] - first_step
        for t in range(length):
            s = first_step + t
            for k in range(hidden_size):
                value = hidden_bias[k]
                for n in range(step_offsets[s], step_offsets[s + 1]):
                    value += input_weights[active[n], k]
                if reward_index >= 0:
                    value += rewards_in[s] * input_weights[reward_index, k]
                if recurrent:
                    for j in range(hidden_size):
                        value += states[t, j] * recurrent_weights[j, k]
                states[t + 1, k] = math.tanh(value)
            largest = -1e300
            for a in range(outputs):
                value = output_bias[a]
                for k in range(hidden_size):
                    value += states[t + 1, k] * output_weights[k, a]
                logits[a] = value
                largest = max(largest, value)
            norm = 0.0
            for a in range(outputs):
                probabilities[t, a] = math.exp(logits[a] - largest)
                norm += probabilities[t, a]
            for a in range(outputs):
                probabilities[t, a] /= norm
            total += largest + math.log(norm) - logits[teacher_actions[s]]
        carried[:] = 0.0
        for t in range(length - 1, -1, -1):
            s = first_step + t
            probabilities[t, teacher_actions[s]] -= 1.0  # d loss / d logits
            for a in range(outputs):
                grad_output_bias[a] += probabilities[t, a]
            for k in range(hidden_size):
                value = carried[k]
                for a in range(outputs):
                    grad_output[k, a] += states[t + 1, k] * probabilities[t, a]
                    value += output_weights[k, a] * probabilities[t, a]
                delta[k] = value * (1.0 - states[t + 1, k] * states[t + 1, k])
            for k in range(hidden_size):
                grad_hidden_bias[k] += delta[k]
                for n in range(step_offsets[s], step_offsets[s + 1]):
                    grad_input[active[n], k] += delta[k]
                if reward_index >= 0:
                    grad_input[reward_index, k] += rewards_in[s] * delta[k]
            for j in range(hidden_size):
                value = 0.0
                if recurrent:
                    for k in range(hidden_size):
                        grad_recurrent[j, k] += states[t, j] * delta[k]
                        value += recurrent_weights[j, k] * delta[k]
                carried[j] = value
    scale = 1.0 / max(1, steps)
    grad_input *= scale
    grad_hidden_bias *= scale
    grad_recurrent *= scale
    grad_output *= scale
    grad_output_bias *= scale
    return total * scale
