"""Distillation: can an encoding express a competent policy at all, whatever the search?

"Representation or search?" A competent teacher controller plays training levels
and its observations and actions are recorded; then each encoding's genome is fitted, without
the environment, to reproduce the teacher's actions on those observations (teacher forcing:
the student sees what the teacher saw). If no genome of an encoding reaches the teacher's door
rate when fitted this way, the encoding cannot express the policy and no optimiser will find
it; if one does, the failure to evolve is a failure of search. The fit is a natural evolution
strategy on the imitation loss (antithetic pairs, centred ranks, Adam), so it is a lower bound
on what the encoding can express, not a proof that it cannot.

The module also measures neuronal diversity (Nisioti et al. 2024): the cosine similarity of
hidden units' incoming weight vectors; near 1 means every neuron grew the same.
"""

import time
from dataclasses import dataclass

import numpy as np

from evosandbox.constants import TILE_DOOR
from evosandbox.controller import ControllerParams
from evosandbox.kernels.distill import imitation_gradient, imitation_scores
from evosandbox.kernels.observe import observe
from evosandbox.simulate import rollout
from evosandbox.worlds import compile_world


@dataclass(frozen=True)
class Demonstrations:
    """A teacher's recorded observations (one-hot CSR) and actions, one sequence per episode."""

    episode_offsets: np.ndarray  # (E + 1,) int64 into the steps
    step_offsets: np.ndarray  # (S + 1,) int64 into active
    active: np.ndarray  # (A,) int64 active input indices
    rewards_in: np.ndarray  # (S,) float32 last-reward input of each step
    reward_index: int
    actions: np.ndarray  # (S,) int64 teacher actions
    teacher_door_rate: float

    @property
    def step_count(self):
        """Number of recorded steps."""
        return int(self.actions.shape[0])


def record_demonstrations(world_spec, teacher, level_seeds):
    """Record a teacher's observations and actions on the levels of ``level_seeds``.

    Args:
        world_spec: the WorldSpec (one episode per lifetime).
        teacher: ControllerParams of one controller (or a scripted policy).
        level_seeds: uint64 (L,).

    Returns:
        Demonstrations.
    """
    if world_spec.lifetime.episodes != 1:
        raise ValueError("distillation records one-episode lifetimes only")
    result = rollout(world_spec, teacher, level_seeds, 0, record=True)
    arrays = compile_world(world_spec)
    observation = world_spec.observation
    cells = arrays.view_radius.shape[0]
    view_tiles = np.empty(cells, np.uint8)
    view_colors = np.empty(cells, np.uint8)
    scratch = np.empty(2 * cells + 1, np.int64)
    episode_offsets, step_offsets, active, rewards_in, actions = [0], [0], [], [], []
    for lifetime in range(len(level_seeds)):
        grid = result.grids[lifetime]
        steps = int(result.steps[0, lifetime, 0])
        last_action, last_reward = -1, 0.0
        for t in range(steps):
            row, col = result.positions[0, lifetime, 0, t]
            heading = result.headings[0, lifetime, 0, t]
            count = observe(
                grid,
                int(row),
                int(col),
                int(heading),
                arrays.view_offsets,
                arrays.view_radius,
                arrays.los_cells,
                arrays.los_length,
                observation.type_radius,
                observation.color_radius,
                view_tiles,
                view_colors,
                scratch,
            )
            step_active = list(scratch[:count])
            if arrays.action_input_base >= 0 and last_action >= 0:
                step_active.append(arrays.action_input_base + last_action)
            active.extend(step_active)
            step_offsets.append(len(active))
            rewards_in.append(last_reward)
            action = int(result.actions[0, lifetime, 0, t])
            actions.append(action)
            last_action, last_reward = action, float(result.rewards[0, lifetime, 0, t])
        episode_offsets.append(len(actions))
    door_rate = float((result.entered_tile[0, :, 0] == TILE_DOOR).mean())
    return Demonstrations(
        np.array(episode_offsets, np.int64),
        np.array(step_offsets, np.int64),
        np.array(active, np.int64),
        np.array(rewards_in, np.float32),
        int(arrays.reward_index),
        np.array(actions, np.int64),
        door_rate,
    )


def imitation(params, demonstrations):
    """Return (cross-entropy, agreement) float64 arrays (P,) of controllers on the demonstrations."""
    population = params.population_size
    cross_entropy = np.empty(population)
    agreement = np.empty(population)
    d = demonstrations
    imitation_scores(
        params.input_weights,
        params.hidden_bias,
        params.recurrent_weights,
        params.output_weights,
        params.output_bias,
        d.episode_offsets,
        d.step_offsets,
        d.active,
        d.rewards_in,
        d.reward_index,
        d.actions,
        cross_entropy,
        agreement,
    )
    return cross_entropy, agreement


def adam_step(gradient, first_moment, second_moment, iteration, learning_rate):
    """Return (step along ``gradient``, new first moment, new second moment): Adam (Kingma and Ba 2015)."""
    first_moment = 0.9 * first_moment + 0.1 * gradient
    second_moment = 0.999 * second_moment + 0.001 * gradient * gradient
    corrected = first_moment / (1 - 0.9**iteration)
    scale = np.sqrt(second_moment / (1 - 0.999**iteration)) + 1e-8
    return learning_rate * corrected / scale, first_moment, second_moment


@dataclass(frozen=True)
class FitResult:
    """The genome a distillation fit ends with and how well it imitates."""

    genome: np.ndarray
    cross_entropy: float
    agreement: float
    iterations: int
    seconds: float
    history: list  # (iteration, cross-entropy, agreement) every ``report_every`` iterations


def fit_to_demonstrations(
    encoding, demonstrations, iterations=300, pairs=32, sigma=0.1, learning_rate=0.03, seed=0, report_every=25
):
    """Fit a genome of ``encoding`` to imitate the demonstrations (no environment).

    A natural evolution strategy on the mean cross-entropy: mirrored pairs around the mean,
    centred ranks, Adam on the mean. The start is the best of ``2 * pairs`` random genomes.

    Args:
        encoding: an Encoding (genomes.make_encoding).
        demonstrations: Demonstrations from record_demonstrations.
        iterations: strategy steps.
        pairs: mirrored sample pairs per step.
        sigma: sample spread in gene units.
        learning_rate: Adam step of the mean.
        seed: seeds every draw.
        report_every: iterations between history rows.

    Returns:
        FitResult.
    """
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    founders = encoding.initial_genomes(2 * pairs, rng)
    cross_entropy, _ = imitation(encoding.develop(founders), demonstrations)
    samples = 2 * pairs

    def loss_gradient(genome):
        noise = rng.standard_normal((pairs, encoding.genome_length))
        genomes = np.concatenate([genome + sigma * noise, genome - sigma * noise]).astype(np.float32)
        cross_entropy, _ = imitation(encoding.develop(genomes), demonstrations)
        order = np.argsort(cross_entropy, kind="stable")  # lowest loss first
        utility = np.empty(samples)
        utility[order] = 0.5 - np.arange(samples) / (samples - 1)
        return -((utility[:pairs] - utility[pairs:]) @ noise) / (samples * sigma)

    start = founders[int(np.argmin(cross_entropy))]
    return _adam_fit(encoding, demonstrations, start, loss_gradient, iterations, learning_rate, report_every, started)


def _adam_fit(encoding, demonstrations, start, loss_gradient, iterations, learning_rate, report_every, started):
    """Descend ``loss_gradient(genome)`` from ``start`` with Adam; return the FitResult."""
    genome = start.astype(np.float64)
    first_moment = np.zeros_like(genome)
    second_moment = np.zeros_like(genome)
    history = []
    for iteration in range(1, iterations + 1):
        gradient = loss_gradient(genome)
        step, first_moment, second_moment = adam_step(gradient, first_moment, second_moment, iteration, learning_rate)
        genome = genome - step
        if iteration % report_every == 0 or iteration == iterations:
            loss, agreement = imitation(encoding.develop(genome.astype(np.float32)), demonstrations)
            history.append((iteration, float(loss[0]), float(agreement[0])))
    final = genome.astype(np.float32)
    loss, agreement = imitation(encoding.develop(final), demonstrations)
    return FitResult(final, float(loss[0]), float(agreement[0]), iterations, time.perf_counter() - started, history)


def imitation_loss_and_weight_gradient(params, demonstrations):
    """Return one controller's mean cross-entropy and its gradient over every parameter (flat, kernel order)."""
    d = demonstrations
    lengths = np.diff(d.episode_offsets)
    shape = params.shape
    recurrent = shape.hidden if shape.recurrent else 0
    grads = (
        np.empty((shape.inputs, shape.hidden)),
        np.empty(shape.hidden),
        np.empty((recurrent, recurrent)),
        np.empty((shape.hidden, shape.outputs)),
        np.empty(shape.outputs),
    )
    loss = imitation_gradient(
        params.input_weights[0],
        params.hidden_bias[0],
        params.recurrent_weights[0],
        params.output_weights[0],
        params.output_bias[0],
        d.episode_offsets,
        d.step_offsets,
        d.active,
        d.rewards_in,
        d.reward_index,
        d.actions,
        int(lengths.max()) if len(lengths) else 0,
        *grads,
    )
    return loss, np.concatenate([grad.reshape(-1) for grad in grads])


def genome_gradient(encoding, genome, weight_gradient, step=1e-3):
    """Map a gradient over the controller's parameters to one over the genome (chain rule).

    Exact for the linear encodings (direct: the gene scales; subspace: the projection's
    transpose) and for factored (its pullback); for the others, the develop map's Jacobian by
    forward differences of ``step``.
    """
    from evosandbox.genomes import flatten_params

    if encoding.name == "direct":
        return weight_gradient * encoding.gene_scales
    if encoding.name == "factored":
        return encoding.pullback(genome, weight_gradient)
    if encoding.name == "subspace":
        return encoding.projection.T.astype(np.float64) @ (weight_gradient * encoding.parameter_scales)
    base = flatten_params(encoding.develop(genome))[0].astype(np.float64)
    shifted = np.repeat(genome[None, :], encoding.genome_length, axis=0)
    shifted[np.arange(encoding.genome_length), np.arange(encoding.genome_length)] += np.float32(step)
    actual = (shifted - genome[None, :]).diagonal().astype(np.float64)  # the float32 step really taken
    jacobian = (flatten_params(encoding.develop(shifted)).astype(np.float64) - base[None, :]) / actual[:, None]
    return jacobian @ weight_gradient


def fit_by_gradient(encoding, demonstrations, iterations=300, learning_rate=0.02, founders=64, seed=0, report_every=25):
    """Fit a genome of ``encoding`` to imitate the demonstrations by gradient descent (no environment).

    Backpropagation through time gives the cross-entropy's gradient over the controller's
    parameters; the chain rule through ``develop`` (genome_gradient) gives it over the genome;
    Adam takes the steps. The start is the best of ``founders`` random genomes.

    Returns:
        FitResult.
    """
    rng = np.random.default_rng(seed)
    started = time.perf_counter()
    candidates = encoding.initial_genomes(founders, rng)
    cross_entropy, _ = imitation(encoding.develop(candidates), demonstrations)

    def loss_gradient(genome):
        current = genome.astype(np.float32)
        _, weight_gradient = imitation_loss_and_weight_gradient(encoding.develop(current), demonstrations)
        return genome_gradient(encoding, current, weight_gradient)

    start = candidates[int(np.argmin(cross_entropy))]
    return _adam_fit(encoding, demonstrations, start, loss_gradient, iterations, learning_rate, report_every, started)


def door_rate(world_spec, params, level_seeds):
    """Return the fraction of ``level_seeds`` levels whose first episode ends in the door (P,)."""
    result = rollout(world_spec, params, level_seeds, 0)
    return (result.entered_tile[:, :, 0] == TILE_DOOR).mean(axis=1)


def hidden_similarity(params):
    """Return the mean and mean absolute pairwise cosine similarity of hidden units' incoming weights.

    A hidden unit's incoming vector is its input weights, recurrent weights and bias. Nisioti
    et al. (2024) found developmental programs collapse to neurons that all grow alike (cosine
    near 1); a direct encoding's random neurons sit near 0.

    Args:
        params: ControllerParams (P controllers).

    Returns:
        (mean cosine, mean |cosine|), float64 arrays (P,); NaN for a single hidden unit.
    """
    population, _, hidden = params.input_weights.shape
    incoming = [params.input_weights, params.hidden_bias[:, None, :]]
    if params.recurrent_weights.shape[1]:
        incoming.insert(1, params.recurrent_weights)
    vectors = np.concatenate(incoming, axis=1).astype(np.float64).transpose(0, 2, 1)  # (P, hidden, fan-in)
    norms = np.linalg.norm(vectors, axis=2, keepdims=True)
    unit = vectors / np.maximum(norms, 1e-12)
    cosine = unit @ unit.transpose(0, 2, 1)
    if hidden < 2:
        nan = np.full(population, np.nan)
        return nan, nan.copy()
    off_diagonal = ~np.eye(hidden, dtype=bool)
    values = cosine[:, off_diagonal]
    return values.mean(axis=1), np.abs(values).mean(axis=1)


def as_params(params_or_agent_policy):
    """Return ControllerParams (a no-op guard that a policy is a network)."""
    if not isinstance(params_or_agent_policy, ControllerParams):
        raise ValueError("distillation needs a network teacher (a run or genome file), not a scripted policy")
    return params_or_agent_policy
