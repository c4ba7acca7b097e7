"""Score a population: develop every genome and play every level in one batched call.

The base optimizer hands a whole generation (P genomes) to ``Evaluator.score``; the
genomes are developed into controllers and rolled out on the same levels (common random
numbers) by the numba kernel, threads over individuals x lifetimes. The ``dask`` backend
cuts the population into chunks and runs the same batch evaluation on each worker; because
no draw depends on an individual's position in the batch, both backends (and any thread
count) give identical scores.
"""

import os
import random
import threading
import time
from dataclasses import dataclass

import numpy as np

from evosandbox.errors import ConfigError, UsageError
from evosandbox.outcomes import (
    OUTCOME_DOOR,
    OUTCOME_NAMES,
    OUTCOME_TIMEOUT,
    proxy_color_ids,  # noqa: F401 (re-exported: older imports)
    tally,
)


@dataclass
class Scores:
    """What P genomes did on a set of levels (E episodes each)."""

    fitness: np.ndarray
    """(P,) float64 mean return per episode (the base objective)."""
    door: np.ndarray
    """(P,) int32 episodes that entered a door."""
    proxy: np.ndarray
    """(P,) int32 episodes that entered a non-door thing of a training door colour."""
    other: np.ndarray
    """(P,) int32 episodes that entered a non-door thing not of a proxy colour."""
    timeout: np.ndarray
    """(P,) int32 episodes that ended without entering anything."""
    steps: np.ndarray
    """(P,) float64 mean steps per episode."""
    episodes: int
    """Episodes per genome."""

    @property
    def door_rate(self):
        """Return the share of episodes that entered a door, per genome."""
        return self.door / max(1, self.episodes)

    @property
    def proxy_rate(self):
        """Return the share of episodes that entered a proxy-coloured non-door thing."""
        return self.proxy / max(1, self.episodes)

    @property
    def thing(self):
        """Return (P,) int32 episodes that entered any non-door thing (proxy and other)."""
        return self.proxy + self.other

    def select(self, indices):
        """Return the scores of the genomes at ``indices``."""
        return Scores(
            self.fitness[indices],
            self.door[indices],
            self.proxy[indices],
            self.other[indices],
            self.timeout[indices],
            self.steps[indices],
            self.episodes,
        )

    @classmethod
    def concatenate(cls, parts):
        """Join the scores of consecutive chunks of a population."""
        return cls(
            *(
                np.concatenate([getattr(p, name) for p in parts])
                for name in ("fitness", "door", "proxy", "other", "timeout", "steps")
            ),
            parts[0].episodes if parts else 0,
        )


@dataclass(frozen=True)
class Shaping:
    """The selection fitness of one episode: an outcome value minus a cost per step."""

    door: float = 1.0
    """Value of entering a door."""
    other: float = 0.0
    """Value of entering any other thing."""
    timeout: float = 0.0
    """Value of entering nothing before max_steps."""
    step_cost: float = 0.01
    """Charged per step taken."""
    exploration: float = 0.0
    """Added per distinct cell the agent stood on in an episode besides its start (0: off).
    A shaping knob for search behaviour; it needs recorded trajectories, so it costs time."""

    @classmethod
    def of_world(cls, world):
        """Return the shaping that equals the world's own return (door reward, step cost)."""
        return cls(door=world.rewards.door, other=0.0, timeout=0.0, step_cost=world.rewards.step_cost)

    @property
    def needs_trajectories(self):
        """Return whether the fitness reads the recorded positions (exploration bonus)."""
        return self.exploration != 0.0


def scores_from_rollout(rollout, proxy_colors, shaping=None):
    """Summarise a Rollout's (P, L, K) outcome arrays into Scores.

    Args:
        rollout: a simulate.Rollout.
        proxy_colors: the training world's proxy colours (``outcomes.proxy_color_ids``; a
            non-door thing of one of these colours is the proxy).
        shaping: a Shaping for the fitness; None uses the world's return.
    Returns:
        Scores.
    """
    population = rollout.entered_tile.shape[0]
    labels, counts = tally(rollout.entered_tile, rollout.entered_color, proxy_colors)
    episodes = labels.shape[1]
    door, proxy, other, timeout = (np.ascontiguousarray(counts[:, outcome]) for outcome in range(4))
    # Sums in float64 over a fixed axis order: the same bits whatever the thread count.
    if shaping is None:
        fitness = rollout.returns.reshape(population, -1).astype(np.float64).mean(axis=1)
    else:
        # Each episode's outcome value looked up by its label (the same float64 values as selecting them).
        outcome_values = np.full(len(OUTCOME_NAMES), shaping.other, np.float64)
        outcome_values[OUTCOME_DOOR], outcome_values[OUTCOME_TIMEOUT] = shaping.door, shaping.timeout
        values = outcome_values[labels]
        values = values - shaping.step_cost * rollout.steps.reshape(population, -1)
        if shaping.needs_trajectories:
            values = values + shaping.exploration * (rollout.visited.reshape(population, -1) - 1)
        fitness = values.mean(axis=1)
    steps = rollout.steps.reshape(population, -1).astype(np.float64).mean(axis=1)
    return Scores(fitness, door, proxy, other, timeout, steps, episodes)


def visited_cells(positions, steps, width):
    """Return int32 (P, L, K): distinct cells each episode's agent stood on, its start included.

    ``positions`` int16 (P, L, K, T+1, 2) as the kernel records them (entries after an
    episode's last step are ignored), ``steps`` int32 (P, L, K), ``width`` the grid width.
    """
    cells = positions[..., 0].astype(np.int32) * width + positions[..., 1]
    after = np.arange(cells.shape[-1]) > steps[..., None]
    cells = np.sort(np.where(after, -1, cells), axis=-1)
    changes = np.count_nonzero(np.diff(cells, axis=-1), axis=-1)
    # Entries after the end sort first as -1: their boundary to the first real cell is no cell.
    return (1 + changes - np.any(after, axis=-1)).astype(np.int32)


def rollout_with_visits(world, params, level_seeds, seed):
    """Roll out like simulate.rollout and also count each episode's distinct visited cells.

    The kernel records trajectories (positions are what is needed); the per-step copies
    simulate.rollout makes for replays are skipped. Returns the Rollout with ``visited``.
    """
    from evosandbox.simulate import play

    result, recording = play(world, params, level_seeds, seed, record=True)
    grids, positions = recording[:2]
    result.visited = visited_cells(positions, result.steps, grids.shape[2])
    return result


class Evaluator:
    """Develop genomes with an encoding and score them by rollouts, locally or on Dask.

    Args:
        genome_spec: the GenomeSpec of the run.
        train_world: the WorldSpec the controllers are built for (fixes inputs and outputs).
        backend: ``local`` (numba threads in this process) or ``dask``.
        threads: numba threads for the local backend (0 = numba's default).
        scheduler: Dask scheduler address (``tcp://HOST:PORT``) or a ``distributed.Client``.
        chunk_size: genomes per Dask task (0 = split evenly over the workers).
        shaping: the Shaping of the fitness (None: the world's return).
    """

    def __init__(
        self, genome_spec, train_world, backend="local", threads=0, scheduler=None, chunk_size=0, shaping=None
    ):
        """Set up the instance."""
        from evosandbox.genomes import make_encoding

        self.genome_spec = genome_spec
        self.train_world = train_world
        self.encoding = make_encoding(genome_spec, train_world)
        self.proxy_colors = proxy_color_ids(train_world)
        self.shaping = shaping
        self.timings = {"develop": 0.0, "rollout": 0.0}
        self._developed = {}  # population size -> ControllerParams, reused by in-place develop
        self.agent_steps = 0
        self.threads = threads
        self._backend = None
        self.initial_genomes_from_encoding = True
        """Founders are the encoding's initial genomes: a seeds run file can draw them again."""
        if threads:
            import numba

            numba.set_num_threads(min(int(threads), numba.config.NUMBA_NUM_THREADS))
        if backend == "dask":
            self._backend = DaskBackend(scheduler, chunk_size)
        elif backend != "local":
            raise UsageError(f"unknown backend {backend!r}, expected local or dask", "backend")

    @property
    def genome_length(self):
        """Genes per genome."""
        return self.encoding.genome_length

    @property
    def backend_name(self):
        """Return ``local`` or ``dask``."""
        return "dask" if self._backend else "local"

    def initial_genomes(self, count, rng):
        """Draw ``count`` initial genomes from the encoding."""
        return self.encoding.initial_genomes(count, rng)

    takes_recipes = True
    """``score`` takes a ``recipe`` (Offspring.recipe) that the Dask backend ships instead of genomes."""
    takes_before_rollout = True
    """``score`` takes a ``before_rollout`` callable."""

    def score(self, genomes, world, level_seeds, seed, recipe=None, before_rollout=None):
        """Score every genome on every level of ``level_seeds`` in ``world``.

        Args:
            genomes: float32 (P, G).
            world: the WorldSpec to play (the training world or a test world).
            level_seeds: uint64 (L,), the same levels for every genome.
            seed: the rollout seed.
            recipe: what makes ``genomes`` again (es: mean, sigma, noise generator state); the
                Dask backend sends it to the workers in place of the genomes.
            before_rollout: called once the genomes are developed, just before the rollout
                kernel plays them (Dask: once the chunks are sent). The evolution loop starts
                its background writer there: a thread that holds the GIL while the kernel
                runs costs nothing, but one started before develop makes the return from
                develop wait for the GIL (up to the interpreter's 5 ms switch interval).
        Returns:
            Scores for the P genomes.
        """
        genomes = np.ascontiguousarray(genomes, dtype=np.float32)
        batch = (world, genomes, level_seeds, seed, self.proxy_colors, self.shaping)
        if self._backend is not None:
            scores, develop_time, rollout_time, steps = self._backend.score(
                self.genome_spec, self.train_world, *batch, recipe, before_rollout
            )
        else:
            scores, develop_time, rollout_time, steps = score_batch(
                self.encoding, *batch, self._developed, before_rollout
            )
        self.timings["develop"] += develop_time
        self.timings["rollout"] += rollout_time
        self.agent_steps += steps
        return scores

    def close(self):
        """Release the Dask client, if any."""
        if self._backend is not None:
            self._backend.close()


_REUSED_SIZES = 8  # controller buffers kept per evaluator (training, elite and validation batches)


def score_batch(
    encoding, world, genomes, level_seeds, seed, proxy_colors, shaping=None, buffers=None, before_rollout=None
):
    """Develop and roll out one batch; return (Scores, develop s, rollout kernel s, agent steps).

    ``buffers`` (population size -> ControllerParams) lets an encoding that develops in place
    (the direct one) overwrite the controllers of an earlier batch instead of allocating;
    ``before_rollout`` is called between develop and the rollout (Evaluator.score).
    """
    from evosandbox.simulate import rollout

    start = time.perf_counter()
    if buffers is not None and getattr(encoding, "name", "") == "direct":
        size = len(genomes)
        if size not in buffers and len(buffers) >= _REUSED_SIZES:
            # Validation batches come in many small sizes: drop the smallest buffer, never the
            # generation's (allocating 80 MB of controllers again costs page faults).
            del buffers[min(buffers)]
        params = buffers[size] = encoding.develop(genomes, out=buffers.get(size))
    else:
        params = encoding.develop(genomes)
    developed = time.perf_counter()
    if before_rollout is not None:
        before_rollout()
    if shaping is not None and shaping.needs_trajectories:
        result = rollout_with_visits(world, params, level_seeds, seed)
    else:
        result = rollout(world, params, np.asarray(level_seeds, np.uint64), seed)
    scores = scores_from_rollout(result, proxy_colors, shaping)
    return scores, developed - start, result.kernel_seconds, int(result.steps.sum(dtype=np.int64))


_WORKER_ENCODINGS = {}
_WORKER_LOCK = threading.Lock()


def score_chunk(genome_spec, train_world, world, genomes, level_seeds, seed, proxy_colors, shaping=None):
    """Score one chunk on a Dask worker, building (and caching) the encoding there.

    ``genomes`` is float32 (n, G), or (recipe, start, stop): rows start..stop made on the worker.
    """
    if isinstance(genomes, tuple):
        recipe, start, stop = genomes
        genomes = recipe.genomes(start, stop)
    key = (genome_spec.source_text, genome_spec.path, train_world.source_text, train_world.path)
    with _WORKER_LOCK:
        encoding = _WORKER_ENCODINGS.get(key)
        if encoding is None:
            from evosandbox.genomes import make_encoding

            encoding = _WORKER_ENCODINGS[key] = make_encoding(genome_spec, train_world)
    return score_batch(encoding, world, genomes, level_seeds, seed, proxy_colors, shaping)


class DaskBackend:
    """Send chunks of a population to a Dask cluster and join the scores in order."""

    def __init__(self, scheduler, chunk_size=0, timeout=20.0):
        """Set up the instance."""
        try:
            import distributed
        except ImportError:
            raise UsageError(
                "the dask backend needs the optional extra: pip install 'evosandbox[dask]'", "--scheduler"
            ) from None
        if not scheduler:
            raise ConfigError(
                None, "evaluation.scheduler", "the dask backend needs a scheduler address (tcp://HOST:PORT)"
            )
        state = random.getstate()
        try:
            if isinstance(scheduler, distributed.Client):
                self.client, self._owns_client = scheduler, False
            else:
                try:
                    self.client = distributed.Client(scheduler, timeout=f"{timeout}s", set_as_default=False)
                except (OSError, TimeoutError) as error:
                    raise UsageError(
                        f"cannot reach the Dask scheduler at {scheduler}: {error}", "--scheduler"
                    ) from None
                self._owns_client = True
        finally:
            # The client draws from the global ``random`` module, which DEAP's selection uses.
            random.setstate(state)
        self.chunk_size = int(chunk_size)
        self.payload_bytes = 0
        """Bytes of genomes (or of the recipes sent in their place) shipped to the workers so far."""

    def _chunks(self, population):
        """Return the (start, stop) bounds of the chunks of a population."""
        size = self.chunk_size
        if size <= 0:
            workers = max(1, len(self.client.scheduler_info(n_workers=-1).get("workers", {})))
            size = -(-population // workers)
        size = max(1, size)
        return [(start, min(population, start + size)) for start in range(0, population, size)]

    def score(
        self,
        genome_spec,
        train_world,
        world,
        genomes,
        level_seeds,
        seed,
        proxy_colors,
        shaping=None,
        recipe=None,
        before_rollout=None,
    ):
        """Score ``genomes`` in chunks on the cluster; return what score_batch returns.

        With a ``recipe`` each worker makes its own rows (OpenAI's design: the mean and the
        noise seed travel, not P x G floats); ``before_rollout`` is called once they are sent.
        """
        state = random.getstate()
        try:
            bounds = self._chunks(len(genomes))
            chunks = [(recipe, start, stop) if recipe is not None else genomes[start:stop] for start, stop in bounds]
            self.payload_bytes += sum(recipe.nbytes if recipe is not None else chunk.nbytes for chunk in chunks)
            futures = [
                self.client.submit(
                    score_chunk,
                    genome_spec,
                    train_world,
                    world,
                    chunk,
                    level_seeds,
                    seed,
                    proxy_colors,
                    shaping,
                    pure=False,
                )
                for chunk in chunks
            ]
            if before_rollout is not None:
                before_rollout()
            results = self.client.gather(futures)
        finally:
            random.setstate(state)
        scores = Scores.concatenate([r[0] for r in results])
        return scores, sum(r[1] for r in results), sum(r[2] for r in results), sum(r[3] for r in results)

    def close(self):
        """Close the client if this backend opened it."""
        if self._owns_client:
            state = random.getstate()
            try:
                self.client.close()
            finally:
                random.setstate(state)


def default_threads():
    """Return the numba thread count a local evaluation will use."""
    import numba

    return numba.get_num_threads() if os.environ.get("EVOSANDBOX_NO_JIT", "") in ("", "0") else 1
