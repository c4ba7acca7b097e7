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
    input_weights, hidden_bias, recurrent_weights, output_weights, output_bias,
    episode_offsets, step_offsets, active, rewards_in, reward_index, teacher_actions,
    cross_entropy_out, agreement_out,
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
                    input_weights, hidden_bias, recurrent_weights, output_weights, output_bias, p,
                    active[first:first + count], count, reward_index, rewards_in[s], hidden, pre, logits,
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
